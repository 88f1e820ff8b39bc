"""Sweeps: resume Stripe steps left half-done, unpark rows, deliver payment outcomes to handlers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q

from core.errors import InvalidInput
from payments import handlers
from payments.models import Payment, PaymentEvent, Payout, PayoutReversal, Refund
from payments.services._common import _now, logger
from payments.services.charges import _payment_capture_send, payment_sync
from payments.services.payouts import _reversal_send, payout_transfer
from payments.services.refunds_disputes import _refund_send

# --- Sweeps: resume steps left half-done, deliver outcomes ------------------------------------------


# Stripe keeps idempotency keys 24 hours: past this, a pending step needs a human.
RESUME_LIMIT = timedelta(hours=23)

RESUMABLE: dict[str, tuple[type[Any], Q]] = {
    # what a step left half-done looks like, per kind of row
    "payment": (Payment, Q(status__in=[Payment.Status.PENDING, Payment.Status.REQUIRES_ACTION])),
    "capture": (Payment, Q(status=Payment.Status.AUTHORISED, capture_requested__isnull=False)),
    "refund": (Refund, Q(status=Refund.Status.PENDING)),
    "payout": (Payout, Q(status=Payout.Status.PENDING)),
    "reversal": (PayoutReversal, Q(status=PayoutReversal.Status.PENDING)),
}


def _resume_claim(kind: str, now: datetime, limit: int = 200) -> list[int]:
    """Claim the rows of a kind whose step went quiet (SKIP LOCKED; `updated_at` is pushed to now,
    so no other sweep takes them for PAYMENTS_RESUME_AFTER_SECONDS) and count the attempt."""
    model, half_done = RESUMABLE[kind]
    due = now - timedelta(seconds=settings.PAYMENTS_RESUME_AFTER_SECONDS)
    with transaction.atomic(durable=True):
        ids = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(
                half_done, updated_at__lte=due, created_at__gte=now - RESUME_LIMIT, parked_at__isnull=True
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        model.objects.filter(pk__in=ids).update(updated_at=now, resume_attempts=F("resume_attempts") + 1)
    return ids


def _resume_one(kind: str, pk: int) -> None:
    if kind == "payment":
        payment_sync(payment_id=pk)
    elif kind == "capture":
        _payment_capture_send(Payment.objects.get(pk=pk))
    elif kind == "refund":
        refund = Refund.objects.get(pk=pk)
        if refund.stripe_refund_id:
            payment_sync(payment_id=refund.payment_id)
        else:
            _refund_send(refund)
    elif kind == "payout":
        payout_transfer(payout_id=pk)
    else:
        _reversal_send(PayoutReversal.objects.select_related("payout").get(pk=pk))


def _resume_failed(kind: str, pk: int, exc: Exception) -> None:
    """Keep the error; park the row once it has failed PAYMENTS_RESUME_MAX_ATTEMPTS times."""
    model, _half_done = RESUMABLE[kind]
    message = (str(exc) or exc.__class__.__name__)[:500]
    model.objects.filter(pk=pk).update(last_error=message)
    parked = model.objects.filter(
        pk=pk, parked_at__isnull=True, resume_attempts__gte=settings.PAYMENTS_RESUME_MAX_ATTEMPTS
    ).update(parked_at=_now())
    log = logger.error if parked else logger.warning
    log("resume %s %s%s: %s", kind, pk, " parked" if parked else "", message)


def payments_unpark(*, kind: str, ids: list[int]) -> int:
    """A moderator sends parked rows back to the resume sweep (attempts counted afresh)."""
    if kind not in RESUMABLE and kind != "outcome":
        raise InvalidInput("kind_unknown", f"Nothing of kind {kind} is parked.", field="kind")
    model = PaymentEvent if kind == "outcome" else RESUMABLE[kind][0]
    attempts = "attempts" if kind == "outcome" else "resume_attempts"
    return model.objects.filter(pk__in=ids, parked_at__isnull=False).update(parked_at=None, **{attempts: 0})


def payments_resume_pending() -> int:
    """Re-run every Stripe step whose answer was never recorded (the same key, or a lookup and a
    new key where Stripe may have done it: stripe_calls). Each row is claimed, and its failure
    is its own: it is recorded, other rows go on, and a row failing too often is parked."""
    now = _now()
    done = 0
    for kind in RESUMABLE:
        for pk in _resume_claim(kind, now):
            try:
                _resume_one(kind, pk)
            except Exception as exc:  # one poisoned row must not stop the sweep
                _resume_failed(kind, pk, exc)
            else:
                done += 1
    return done


def _outcomes_claim(limit: int, failed: set[int]) -> list[int]:
    """Claim the next undelivered event of each payment (SKIP LOCKED) for
    PAYMENTS_OUTCOME_CLAIM_SECONDS: a payment whose earlier event another worker holds, or that is
    parked, waits, so each payment's outcomes arrive in order. `failed` (this sweep's) wait too."""
    now = _now()
    with transaction.atomic(durable=True):
        candidates = list(
            PaymentEvent.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True, parked_at__isnull=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .exclude(pk__in=failed)
            .order_by("pk")
            .values_list("pk", "payment_id")[:limit]
        )
        first: dict[int, int] = {}
        for pk, payment_id in candidates:
            first.setdefault(payment_id, pk)
        earlier = PaymentEvent.objects.filter(
            payment_id=OuterRef("payment_id"), delivered_at__isnull=True, pk__lt=OuterRef("pk")
        )
        ids = list(
            PaymentEvent.objects.filter(pk__in=first.values())
            .exclude(Exists(earlier))
            .values_list("pk", flat=True)
        )
        PaymentEvent.objects.filter(pk__in=ids).update(
            claimed_until=now + timedelta(seconds=settings.PAYMENTS_OUTCOME_CLAIM_SECONDS),
            attempts=F("attempts") + 1,
        )
    return ids


def payment_outcomes_deliver(*, limit: int = 500) -> int:
    """Tell the registered handlers about status changes not yet delivered, in order per payment.

    Handlers run outside any transaction of ours (they open their own); an event is marked
    delivered only after every handler returned, so a failure means it comes again (at least
    once), and the payment's later events wait for it. A handler failing on one event does not
    stop the others; an event failing PAYMENTS_RESUME_MAX_ATTEMPTS times is parked, with its error.
    """
    delivered = 0
    failed: set[int] = set()
    while delivered < limit:
        claimed = _outcomes_claim(limit - delivered, failed)
        if not claimed:
            return delivered
        for event in PaymentEvent.objects.select_related("payment").filter(pk__in=claimed).order_by("pk"):
            if _outcome_deliver(event):
                delivered += 1
            else:
                failed.add(event.pk)  # tried again by the next sweep
    return delivered


def _outcome_deliver(event: PaymentEvent) -> int:
    """Run the handlers for one claimed event; 1 if it is now delivered."""
    payment = event.payment
    outcome = handlers.PaymentOutcome(
        event_id=event.pk,
        payment_id=payment.pk,
        reference=payment.reference,
        previous_status=event.from_status,
        status=event.to_status,
        amount=payment.amount,
        amount_captured=payment.amount_captured,
        amount_refunded=payment.amount_refunded,
        currency=payment.currency,
        reason=event.reason,
    )
    try:
        handlers.run_payment_outcome_handlers(outcome)
    except Exception as exc:  # one poisoned event must not stop the others
        logger.exception("payment outcome %s: a handler failed; it will be delivered again", event.pk)
        PaymentEvent.objects.filter(pk=event.pk).update(
            claimed_until=None, last_error=(str(exc) or exc.__class__.__name__)[:500]
        )
        PaymentEvent.objects.filter(pk=event.pk, attempts__gte=settings.PAYMENTS_RESUME_MAX_ATTEMPTS).update(
            parked_at=_now()
        )
        return 0
    return PaymentEvent.objects.filter(pk=event.pk, delivered_at__isnull=True).update(
        delivered_at=_now(), claimed_until=None
    )
