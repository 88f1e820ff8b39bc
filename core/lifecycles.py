"""The one shape of every status change (STYLE.md 10): a `Status` plus a `TRANSITIONS` table on
the model, checked here, applied by the model's transition service, with an event row written in
the same transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import models

from core import audit
from core.errors import Conflict

M = TypeVar("M", bound=models.Model)


def transition_allowed(model: type[models.Model], from_status: str, to_status: str) -> bool:
    return to_status in model.TRANSITIONS[from_status]  # type: ignore[attr-defined]


def check_transition(
    model: type[models.Model], from_status: str, to_status: str, *, code: str = "transition_not_allowed"
) -> None:
    """Raise Conflict unless `model.TRANSITIONS` allows from_status → to_status."""
    if not transition_allowed(model, from_status, to_status):
        name = model._meta.verbose_name
        raise Conflict(code, f"A {name} that is {from_status} cannot become {to_status}.")


def transition_rows(
    rows: Sequence[M],
    to_status: str,
    *,
    event_model: type[models.Model],
    reason: str,
    at: datetime,
    changes: dict[str, Any] | None = None,
    code: str = "transition_not_allowed",
) -> list[M]:
    """Move rows of one model to `to_status`: every move checked against the model's table, then
    one UPDATE per current status (guarded by it) and one INSERT of their events
    (`event_model(<row>, from_status, to_status, reason, occurred_at)`), plus their audit
    entries when the model names itself in the trail (`AUDIT_NAME = "trade"`). `changes` are
    other fields set with the status. Updates the instances and returns them.

    Requires: the rows locked or claimed in the current transaction.
    """
    if not rows:
        return []
    model = type(rows[0])
    for row in rows:
        check_transition(model, row.status, to_status, code=code)  # type: ignore[attr-defined]
    by_status: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_status[row.status].append(row.pk)  # type: ignore[attr-defined]
    changes = changes or {}
    for from_status, pks in by_status.items():
        model._default_manager.filter(pk__in=pks, status=from_status).update(status=to_status, **changes)
    link = _event_link(event_model, model)
    event_model._default_manager.bulk_create(
        event_model(
            **{link: row.pk},
            from_status=row.status,  # type: ignore[attr-defined]
            to_status=to_status,
            reason=reason[:200],
            occurred_at=at,
        )
        for row in rows
    )
    moved = [(row, row.status) for row in rows]  # type: ignore[attr-defined]
    for row in rows:
        row.status = to_status  # type: ignore[attr-defined]
        for field, value in changes.items():
            setattr(row, field, value)
    audit_name = getattr(model, "AUDIT_NAME", None)
    if audit_name:  # the audit trail follows consent, listings, trades and payouts (core.audit)
        audit.record_transitions(audit_name, moved, to_status, reason=reason, at=at)
    return list(rows)


def _event_link(event_model: type[models.Model], model: type[models.Model]) -> str:
    """The attname of the event's foreign key to `model` ("access_grant_id")."""
    for field in event_model._meta.concrete_fields:
        if field.is_relation and field.related_model is model:
            return field.attname
    raise TypeError(f"{event_model.__name__} has no foreign key to {model.__name__}")
