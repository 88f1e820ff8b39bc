"""What the payments services modules share: aliases, the logger, Stripe answer readers, checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from django.db import transaction
from django.utils import timezone

from core.errors import InvalidInput, NotFound
from payments.models import LedgerAccount, LedgerTransaction, Payment

logger = logging.getLogger("payments.services")  # one logger for the package, named as before
A = LedgerAccount.Purpose
K = LedgerTransaction.Kind
PS = Payment.Status


class UnknownStripeObject(NotFound):
    """An event or answer about a Stripe object we never created: nothing is changed."""


def _now() -> datetime:
    return timezone.now()


def _from_timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else _now()


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    object_id: str | None = _get(value, "id")
    return object_id


def _stripe_message(exc: stripe.StripeError) -> str:
    return (exc.user_message or str(exc) or exc.__class__.__name__)[:500]


def _on_commit_task(task_name: str, *args: Any) -> None:
    """Queue a payments task after commit; a broker hiccup is logged, and a sweep catches up."""

    def send() -> None:
        from payments import tasks

        getattr(tasks, task_name).delay(*args)

    transaction.on_commit(send, robust=True)


def _check_currency(expected: str, got: str | None, *, what: str) -> None:
    if (got or "").upper() != expected.upper():
        raise InvalidInput(
            "currency_mismatch",
            f"{what} is in {(got or '?').upper()}, expected {expected.upper()}.",
            field="currency",
        )
