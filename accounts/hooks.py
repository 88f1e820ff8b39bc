"""Extension points for apps that stand on accounts (listings, marketplace).

accounts cannot import them, so they register plain functions here from their AppConfig.ready.
These are explicit calls made by accounts' services inside their transactions, not signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple


class ConsentChange(NamedTuple):
    """One grant concerned by a consent change, as the handlers need it (no re-read)."""

    grant_id: int
    seller_id: int
    category: str
    purpose: str

    @classmethod
    def of(cls, grant: Any) -> ConsentChange:
        return cls(grant.pk, grant.seller_id, grant.category, grant.purpose)


# Called inside the transaction that changes consent, with the grants concerned and the reason:
# "granted" | "renewed" (old and new grant) | "revoked" | "expired" | "erasure".
# The last three end consent: handlers must stop whatever depended on it in that transaction.
ConsentChangeHandler = Callable[[Sequence[ConsentChange], str], None]
_consent_change_handlers: list[ConsentChangeHandler] = []
CONSENT_ENDING_REASONS = frozenset({"revoked", "expired", "erasure"})

# Each returns a JSON-serialisable section of a seller's GDPR export.
ExportSection = Callable[[Any], Any]
_export_sections: dict[str, ExportSection] = {}


def register_consent_change_handler(handler: ConsentChangeHandler) -> None:
    if handler not in _consent_change_handlers:
        _consent_change_handlers.append(handler)


def run_consent_change_handlers(changes: Iterable[ConsentChange], reason: str) -> None:
    changes = list(changes)
    if not changes:
        return
    for handler in _consent_change_handlers:
        handler(changes, reason)


def register_export_section(name: str, section: ExportSection) -> None:
    _export_sections[name] = section


def export_sections() -> dict[str, ExportSection]:
    return dict(_export_sections)
