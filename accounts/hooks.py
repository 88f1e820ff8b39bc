"""Extension points for apps that stand on accounts (listings, marketplace).

accounts cannot import them, so they register plain functions here from their AppConfig.ready.
These are explicit calls made by accounts' services inside their transactions, not signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum
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


class ConsentHandlerStage(IntEnum):
    """When each app's consent-change handler runs: in this order, whatever order the apps start
    in. It follows the lock order (core.locks.LOCK_ORDER): the consent service has locked the
    grants; listings then lock and pause (or withdraw) the listings that needed them; marketplace
    then locks and cancels the bids on those listings, voids trade lines, revokes access grants
    and sends deletion notices."""

    LISTINGS = 10
    MARKETPLACE = 20


_consent_change_stages: dict[ConsentChangeHandler, ConsentHandlerStage] = {}
# The registered handlers in stage order (rebuilt at each registration).
_consent_change_handlers: list[ConsentChangeHandler] = []
CONSENT_ENDING_REASONS = frozenset({"revoked", "expired", "erasure"})

# Each returns a JSON-serialisable section of a seller's GDPR export.
ExportSection = Callable[[Any], Any]
_export_sections: dict[str, ExportSection] = {}


def register_consent_change_handler(handler: ConsentChangeHandler, *, stage: ConsentHandlerStage) -> None:
    """Register `handler` to run at `stage`; one handler per stage."""
    taken = {other_stage: other for other, other_stage in _consent_change_stages.items()}
    if stage in taken and taken[stage] is not handler:
        raise ValueError(f"{taken[stage]!r} already runs at consent stage {stage.name}")
    _consent_change_stages[handler] = stage
    _consent_change_handlers[:] = sorted(_consent_change_stages, key=_consent_change_stages.__getitem__)


def run_consent_change_handlers(changes: Iterable[ConsentChange], reason: str) -> None:
    changes = list(changes)
    if not changes:
        return
    for handler in _consent_change_handlers:  # in stage order
        handler(changes, reason)


def register_export_section(name: str, section: ExportSection) -> None:
    _export_sections[name] = section


def export_sections() -> dict[str, ExportSection]:
    return dict(_export_sections)


# Called inside the transaction that suspends a seller or a buyer organisation, with what is
# suspended ("seller" | "organisation"), its id and the moderator's reason. Handlers stop what
# the suspended party had running (listings, bids, access grants) in that transaction; they run
# in stage order, so locks follow core.locks.LOCK_ORDER (listings, then marketplace).
SUSPENDED_SELLER = "seller"
SUSPENDED_ORGANISATION = "organisation"
SuspensionHandler = Callable[[str, int, str], None]
_suspension_stages: dict[SuspensionHandler, ConsentHandlerStage] = {}


def register_suspension_handler(handler: SuspensionHandler, *, stage: ConsentHandlerStage) -> None:
    """Register `handler` to run at `stage` (the consent stages: listings, then marketplace)."""
    _suspension_stages[handler] = stage


def run_suspension_handlers(kind: str, subject_id: int, reason: str) -> None:
    for handler in sorted(_suspension_stages, key=_suspension_stages.__getitem__):
        handler(kind, subject_id, reason)
