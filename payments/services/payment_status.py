"""Status changes of the Stripe operations (payments, refunds, payouts, payout reversals): the
one transition service, and a payment's status derived after capture."""

from __future__ import annotations

from django.apps import apps

from core import audit
from payments.models import Dispute, Payment, StripeOperation
from payments.services._common import _now, _queue_after_commit, logger

# --- Stripe operations: status changes -----------------------------------------------------------


def operation_transition(row: StripeOperation, to: str, reason: str = "", *, save_all: bool = False) -> bool:
    """Move a Payment, Refund, Payout or PayoutReversal to `to` if its TRANSITIONS table allows
    it, with its event row (`EVENT_MODEL`) and, for a model with an `AUDIT_NAME` (payouts), its
    audit entry. Saves the status and `updated_at`, or with
    `save_all` the whole row (the caller's other changes with it). Returns whether it moved.

    Requires: the row's lock (payments.lock_objects). A move the table refuses is a stale or
    out-of-order fact from Stripe: it is logged and ignored, never applied.
    """
    if row.status == to:  # type: ignore[attr-defined]
        return False
    label = row._meta.model_name
    if to not in row.TRANSITIONS[row.status]:  # type: ignore[attr-defined]
        logger.info("%s %s: ignoring %s → %s (%s)", label, row.pk, row.status, to, reason)  # type: ignore[attr-defined]
        return False
    event_model = apps.get_model(row.EVENT_MODEL)
    link = next(
        f.name for f in event_model._meta.concrete_fields if f.is_relation and f.related_model is type(row)
    )
    event_model.objects.create(
        **{link: row},
        from_status=row.status,  # type: ignore[attr-defined]
        to_status=to,
        reason=reason[:200],
    )
    from_status = row.status  # type: ignore[attr-defined]
    row.status = to  # type: ignore[attr-defined]
    row.updated_at = _now()
    if save_all:
        row.save()
    else:
        # every other field is saved where it changes; `status` is declared by each subclass
        row.save(update_fields=["status", "updated_at"])  # type: ignore[misc]
    audit_name = getattr(row, "AUDIT_NAME", None)
    if audit_name:  # payouts and their reversals are in the audit trail (core.audit)
        audit.record(
            f"{audit_name}.{to}", row, reason=reason, changes={"status": [from_status, to]}, at=row.updated_at
        )
    return True


def _payment_transition(payment: Payment, to: str, reason: str = "") -> bool:
    """`operation_transition` for a payment; its event is also the outbox through which the
    outcome reaches the caller (delivered after commit). Requires: the payment's row lock."""
    moved = operation_transition(payment, to, reason)
    if moved:
        from payments import tasks  # here: payments.tasks imports the services

        _queue_after_commit(tasks.payment_outcomes_deliver)
    return moved


def _payment_derive_after_capture(payment: Payment, reason: str) -> None:
    """Once captured, the status follows from the facts (refunds, disputes), whatever their order.

    Requires: the payment's row lock.
    """
    if payment.status not in Payment.CAPTURED_STATES:
        return
    disputes = set(payment.disputes.values_list("status", flat=True))
    if Dispute.Status.OPEN in disputes:
        target = Payment.Status.DISPUTED
    elif Dispute.Status.LOST in disputes:
        target = Payment.Status.DISPUTE_LOST
    elif payment.amount_refunded and payment.amount_refunded >= payment.amount_captured:
        target = Payment.Status.REFUNDED
    elif payment.amount_refunded:
        target = Payment.Status.PARTIALLY_REFUNDED
    else:
        target = Payment.Status.CAPTURED
    _payment_transition(payment, target, reason)
