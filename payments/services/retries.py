"""A moderator retries a stuck payment or payout from the admin (issue 14), with a reason,
audited. Each calls the existing service: a parked row goes back to the resume sweep
(recovery.payments_unpark); a payout whose transfer Stripe refused is paid again as a new payout
of what the seller is owed (payouts.payout_create). Nothing is deleted or edited by hand."""

from __future__ import annotations

from accounts.models import User
from core import audit
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from payments.models import Payment, Payout
from payments.services.payouts import payout_create
from payments.services.recovery import payments_unpark


def _check_moderator(moderator: User | None, reason: str) -> str:
    if moderator is None or moderator.role != User.Role.MODERATOR:
        raise Forbidden("moderator_required", "Only a moderator can do this.")
    if not reason.strip():
        raise InvalidInput(
            "reason_required", "Give a reason: every moderator action records why.", field="reason"
        )
    return reason.strip()


def payment_retry(*, payment_id: int, moderator: User, reason: str) -> Payment:
    """A parked payment (its Stripe step failed too often) goes back to the resume sweep. A
    declined payment is the buyer's to pay again: nothing to retry here."""
    reason = _check_moderator(moderator, reason)
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("not_found", "No such payment.")
    if payment.parked_at is None:
        raise Conflict("nothing_to_retry", f"This payment is {payment.status}, not parked: nothing to retry.")
    payments_unpark(kind="payment", ids=[payment.pk])
    audit.record(
        "payment.retried",
        payment,
        reason=reason,
        changes={"parked_at": [str(payment.parked_at), None]},
        actor=moderator,
    )
    return payment


def payout_retry(*, payout_id: int, moderator: User, reason: str) -> Payout:
    """A parked payout goes back to the resume sweep; a payout whose transfer Stripe refused
    (failed, no transfer) is paid again as a new payout of the seller's available balance.
    Returns the payout that will pay. A payout whose transfer was made and whose bank payout
    failed is not retried here: the money waits in the seller's Stripe balance."""
    reason = _check_moderator(moderator, reason)
    payout = Payout.objects.filter(pk=payout_id).first()
    if payout is None:
        raise NotFound("not_found", "No such payout.")
    if payout.parked_at is not None:
        payments_unpark(kind="payout", ids=[payout.pk])
        audit.record(
            "payout.retried",
            payout,
            reason=reason,
            changes={"parked_at": [str(payout.parked_at), None]},
            actor=moderator,
        )
        return payout
    if payout.status != Payout.Status.FAILED:
        raise Conflict("nothing_to_retry", f"This payout is {payout.status}: nothing to retry.")
    if payout.transfer_id:
        raise Conflict(
            "nothing_to_retry",
            "This payout's transfer was made and its bank payout failed: nothing to retry here; "
            "Stripe pays it out again once the seller fixes their bank details.",
        )
    new = payout_create(seller_id=payout.seller_id, currency=payout.currency)
    if new is None:
        raise Conflict(
            "nothing_to_retry",
            "No new payout: nothing payable above the threshold, a payout already in flight, payouts "
            "not enabled, or the seller is suspended.",
        )
    audit.record("payout.retried", payout, reason=reason, changes={"retried_as": new.pk}, actor=moderator)
    return new
