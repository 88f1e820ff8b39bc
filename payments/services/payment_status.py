"""A payment's status changes: the transition table applied, the status derived after capture."""

from __future__ import annotations

from payments.models import Dispute, Payment, PaymentEvent
from payments.services._common import _now, _queue_after_commit, logger

# --- Payments: status changes --------------------------------------------------------------------


def _payment_transition(payment: Payment, to: str, reason: str = "") -> bool:
    """Move the payment to `to` if the table allows it, with its event (the outbox row).

    Requires: the payment's row lock (lock_objects.payment). A move the table refuses is a
    stale or out-of-order fact: it is logged and ignored, never applied.
    """
    if payment.status == to:
        return False
    if to not in Payment.TRANSITIONS[payment.status]:
        logger.info("payment %s: ignoring %s → %s (%s)", payment.pk, payment.status, to, reason)
        return False
    PaymentEvent.objects.create(
        payment=payment, from_status=payment.status, to_status=to, reason=reason[:200]
    )
    payment.status = to
    payment.updated_at = _now()
    payment.save(update_fields=["status", "updated_at"])  # every other field is saved where it changes
    from payments import tasks  # here: payments.tasks imports the services

    _queue_after_commit(tasks.payment_outcomes_deliver)
    return True


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
