"""What the payments services modules share: the logger, Stripe answer readers, checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from celery import Task
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.errors import InvalidInput, NotFound, ServiceError

logger = logging.getLogger("payments.services")  # one logger for the whole package


class UnknownStripeObject(NotFound):
    """An event or answer about a Stripe object we never created: nothing is changed."""


class StripePayloadInvalid(ServiceError):
    """A Stripe object without a field Stripe always sends: its shape changed (another API
    version?). Nothing is recorded from it; a webhook event carrying it is marked failed."""

    status_code = 502


def _now() -> datetime:
    return timezone.now()


def _from_timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else _now()


def _required(obj: Any, key: str) -> Any:
    """A field Stripe always sends (not nullable): raises StripePayloadInvalid when it is missing."""
    try:
        value = obj[key]
    except (KeyError, TypeError):
        value = None
    if value is None:
        described = f"{_get(obj, 'object', 'object')} {_get(obj, 'id', '')}".strip()
        raise StripePayloadInvalid("stripe_payload_invalid", f"Stripe sent {described} without {key!r}.")
    return value


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """A field Stripe documents as optional or nullable, or an expandable field that may be an id
    string rather than an object: `default` when it is missing, null or unreadable. Fields Stripe
    always sends are read with `_required`."""
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


def _queue_after_commit(task: Task[Any, Any], *args: Any) -> None:
    """Queue `task` once the transaction commits. The rows are committed whatever the broker does,
    so a broker that cannot take the message is logged, not raised to the caller: the beat sweep
    that covers the task does the work later (payments_resume_pending, payout_recover_receivables,
    payment_outcomes_deliver, webhook_requeue_stale). Any other error is a bug and is raised."""

    def send() -> None:
        try:
            task.delay(*args)
        except BrokerUnavailable:
            logger.warning("could not queue %s%r after commit; its sweep will catch up", task.name, args)

    transaction.on_commit(send)


def _check_currency(expected: str, got: str | None, *, what: str) -> None:
    if (got or "").upper() != expected.upper():
        raise InvalidInput(
            "currency_mismatch",
            f"{what} is in {(got or '?').upper()}, expected {expected.upper()}.",
            field="currency",
        )
