"""Extension points for apps that stand on accounts (listings, marketplace).

accounts cannot import them, so they register plain functions here from their AppConfig.ready.
These are explicit calls made by accounts' services inside their transactions, not signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Called inside the transaction that ends consent, with the ids of the grants that ended
# (revoked, expired or erased) and the reason ("revoked" | "expired" | "erasure").
ConsentEndHandler = Callable[[list[int], str], None]
_consent_end_handlers: list[ConsentEndHandler] = []

# Each returns a JSON-serialisable section of a seller's GDPR export.
ExportSection = Callable[[Any], Any]
_export_sections: dict[str, ExportSection] = {}


def register_consent_end_handler(handler: ConsentEndHandler) -> None:
    if handler not in _consent_end_handlers:
        _consent_end_handlers.append(handler)


def run_consent_end_handlers(grant_ids: Iterable[int], reason: str) -> None:
    ids = list(grant_ids)
    if not ids:
        return
    for handler in _consent_end_handlers:
        handler(ids, reason)


def register_export_section(name: str, section: ExportSection) -> None:
    _export_sections[name] = section


def export_sections() -> dict[str, ExportSection]:
    return dict(_export_sections)
