"""The audit trail: who did what to which row, when and why (issue 14).

Every moderator action and every change to consent, listings, trades and payouts writes one
`AuditEntry` in the same transaction as the change. The actor is the signed-in user of the
request (set by `core.middleware.AuditActorMiddleware`), the user a service is given, or nobody
(the platform's workers). Entries are never changed: the admin shows them read-only and, on
PostgreSQL, a trigger refuses UPDATE and DELETE.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from core import admin_display
from core.models import AuditEntry

_actor: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Within the block, entries without an explicit actor are attributed to `user`."""
    token = _actor.set(user if getattr(user, "is_authenticated", False) else None)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def request_actor(request: Any) -> Iterator[None]:
    """Within the block, entries are attributed to `request.user`, read only when an entry is
    written (after DRF has authenticated an API key, and without a query for other requests)."""
    token = _actor.set(request)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Any:
    actor = _actor.get()
    if isinstance(actor, HttpRequest):
        user = getattr(actor, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    return actor


def _target_repr(target: models.Model) -> str:
    """How the entry names its row: a seller by their pseudonym, never their email (moderators
    read the trail; core.admin_display)."""
    with admin_display.pseudonymous():
        return str(target)[:200]


def _entry(
    action: str,
    target: models.Model,
    *,
    reason: str,
    changes: dict[str, Any] | None,
    actor: Any,
    at: datetime | None,
) -> AuditEntry:
    return _row_entry(
        action,
        target._meta.label_lower,
        target.pk,
        _target_repr(target),
        reason=reason,
        changes=changes,
        actor=actor,
        at=at,
    )


def _row_entry(
    action: str,
    target_type: str,
    target_id: Any,
    target_repr: str,
    *,
    reason: str,
    changes: dict[str, Any] | None,
    actor: Any,
    at: datetime | None,
) -> AuditEntry:
    actor = actor if actor is not None else current_actor()
    if actor is None:
        role = AuditEntry.SYSTEM
    else:  # a buyer's API key signs in as a principal with no user behind it (no pk, no role)
        role = getattr(actor, "role", "") or ("buyer_api" if hasattr(actor, "api_key") else "")
    return AuditEntry(
        occurred_at=at or timezone.now(),
        actor_id=getattr(actor, "pk", None),
        actor_role=role,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_repr=target_repr[:200],
        reason=reason or "",
        changes=changes or {},
    )


def entry(
    action: str,
    target: models.Model,
    *,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    actor: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """The entry `record` would write, unsaved: for a loop over rows that writes its entries
    together at the end (`write`), as a set-based sweep must."""
    return _entry(action, target, reason=reason, changes=changes, actor=actor, at=at)


def write(entries: list[AuditEntry]) -> None:
    """Entries built by `entry`, in one INSERT (none for an empty list)."""
    AuditEntry.objects.bulk_create(entries)


def record(
    action: str,
    target: models.Model,
    *,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    actor: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Write one entry: `action` is "<thing>.<verb>" ("listing.rejected"), `changes` what moved
    ({"status": ["pending_review", "rejected"]})."""
    entry = _entry(action, target, reason=reason, changes=changes, actor=actor, at=at)
    entry.save(force_insert=True)
    return entry


def record_many(
    action: str,
    targets: Iterable[models.Model],
    *,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    actor: Any = None,
    at: datetime | None = None,
) -> None:
    """One entry per target, in one INSERT."""
    AuditEntry.objects.bulk_create(
        [_entry(action, t, reason=reason, changes=changes, actor=actor, at=at) for t in targets]
    )


def record_rows(
    action: str,
    model: type[models.Model],
    rows: Iterable[tuple[Any, str]],
    *,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    actor: Any = None,
    at: datetime | None = None,
) -> None:
    """`record_many` for a set-based sweep that holds plain rows, not model instances: one entry
    per (primary key, what the row reads as), in one INSERT."""
    actor = actor if actor is not None else current_actor()
    at = at or timezone.now()
    label = model._meta.label_lower
    AuditEntry.objects.bulk_create(
        [
            _row_entry(action, label, pk, text, reason=reason, changes=changes, actor=actor, at=at)
            for pk, text in rows
        ]
    )


def record_transitions(
    name: str, rows: Iterable[tuple[models.Model, str]], to_status: str, *, reason: str, at: datetime
) -> None:
    """One entry per (row, its status before) moving to `to_status`: "<name>.<to_status>"."""
    actor = current_actor()
    AuditEntry.objects.bulk_create(
        [
            _entry(
                f"{name}.{to_status}",
                row,
                reason=reason,
                changes={"status": [from_status, to_status]},
                actor=actor,
                at=at,
            )
            for row, from_status in rows
        ]
    )
