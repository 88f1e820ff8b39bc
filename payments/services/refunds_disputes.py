"""Refunds and disputes of payments, and the sellers' books they take back from after settlement."""

from __future__ import annotations

import stripe
from django.db import transaction
from django.db.models import F, Sum

from core.errors import Conflict, InvalidInput, NotFound
from payments import lock_objects, money, postings
from payments.models import Dispute, LedgerAccount, LedgerTransaction, Payment, Refund
from payments.services._common import (
    _check_currency,
    _from_timestamp,
    _get,
    _now,
    _queue_after_commit,
    _required,
    _stripe_message,
)
from payments.services.payment_status import _payment_derive_after_capture, operation_transition
from payments.stripe_calls import StripeData, create_once, stripe_id
from payments.stripe_client import client

# --- Payments: what Stripe says, applied ---------------------------------------------------------


def _lock_books(payment: Payment) -> postings.SellerBooks | None:
    """Lock and read the books of the payment's sellers (after settlement). Requires its lock."""
    if payment.settled_at is None:
        return None
    seller_ids = list(payment.settlement_shares.values_list("seller_id", flat=True))
    lock_objects.seller_accounts(seller_ids, payment.currency)
    return postings.SellerBooks(seller_ids, payment.currency)


def _release_expected(payment: Payment) -> int:
    """The uncaptured part of a partial capture not yet seen as released (Stripe may show it as a
    refund of the charge: no money of ours moves)."""
    if not payment.stripe_charge_id:
        return 0
    released = payment.refunds.filter(kind=Refund.Kind.CAPTURE_RELEASE).aggregate(t=Sum("amount"))["t"] or 0
    return max(payment.amount - payment.amount_captured - released, 0)


def _refund_transition(refund: Refund, to: str) -> bool:
    """Requires: the refund's payment locked (or the refund row)."""
    return operation_transition(refund, to, save_all=True)


def _apply_refund(payment: Payment, data: StripeData, books: postings.SellerBooks | None) -> dict[int, int]:
    """Record one Stripe refund of this payment's charge, once. Requires: the payment's lock and
    the sellers' locks (books). Returns the receivables it booked, per seller."""
    _check_currency(payment.currency, _required(data, "currency"), what=f"Refund {data['id']}")
    refund = Refund.objects.filter(stripe_refund_id=data["id"]).first()
    if refund is None:
        ours = _get(_get(data, "metadata", {}), "courtier_refund_id")
        if ours:
            refund = Refund.objects.filter(
                pk=int(ours), payment=payment, stripe_refund_id__isnull=True
            ).first()
    if refund is not None and refund.payment_id != payment.pk:
        raise Conflict("refund_mismatch", f"Refund {data['id']} belongs to another payment.")
    amount = int(data["amount"])
    if refund is None:
        release = _release_expected(payment)
        kind = Refund.Kind.CAPTURE_RELEASE if release and amount == release else Refund.Kind.REFUND
        refund = Refund.objects.create(
            payment=payment,
            kind=kind,
            amount=amount,
            currency=payment.currency,
            stripe_refund_id=data["id"],
            reason="uncaptured part released"
            if kind == Refund.Kind.CAPTURE_RELEASE
            else "refunded at Stripe",
        )
    elif not refund.stripe_refund_id:
        refund.stripe_refund_id = data["id"]
        refund.save(update_fields=["stripe_refund_id"])
    status = _get(data, "status")
    if status == "succeeded":
        return _refund_succeed(payment, refund, books)
    if status in ("failed", "canceled"):
        refund.failure_message = str(_get(data, "failure_reason", status))[:500]
        refund.save(update_fields=["failure_message"])
        _refund_transition(refund, Refund.Status.FAILED if status == "failed" else Refund.Status.CANCELED)
    return {}


def _refund_succeed(payment: Payment, refund: Refund, books: postings.SellerBooks | None) -> dict[int, int]:
    """Post the refund and, after settlement, take it back from sellers and the fee.

    Requires: the payment's lock and the sellers' locks (books).
    """
    if refund.status == Refund.Status.SUCCEEDED:
        return {}
    if refund.kind == Refund.Kind.CAPTURE_RELEASE:  # never captured: nothing of ours moves
        _refund_transition(refund, Refund.Status.SUCCEEDED)
        return {}
    if payment.amount_refunded + refund.amount > payment.amount_captured:
        raise InvalidInput("refund_too_large", f"Refund {refund.stripe_refund_id} exceeds what was captured.")
    lines, owed = postings.loss_lines(payment, refund.amount, LedgerAccount.Purpose.REFUNDS, books)
    postings.post(
        LedgerTransaction.Kind.REFUND,
        payment.reference,
        f"refund:{refund.pk}",
        lines,
        f"refund {refund.stripe_refund_id}",
    )
    _refund_transition(refund, Refund.Status.SUCCEEDED)
    Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") + refund.amount)
    payment.refresh_from_db(fields=["amount_refunded"])
    return owed


DISPUTE_STATUS = {
    "won": Dispute.Status.WON,
    "warning_closed": Dispute.Status.WON,
    "lost": Dispute.Status.LOST,
}


def _apply_dispute(payment: Payment, data: StripeData, books: postings.SellerBooks | None) -> dict[int, int]:
    """Record a dispute and the money it moved (its balance transactions), once each.

    Requires: the payment's lock and the sellers' locks (books).
    """
    _check_currency(payment.currency, _required(data, "currency"), what=f"Dispute {data['id']}")
    amount = int(_required(data, "amount"))
    if amount <= 0:
        raise InvalidInput("amount_invalid", f"Dispute {data['id']} has no positive amount.")
    dispute, _created = Dispute.objects.get_or_create(
        stripe_dispute_id=data["id"],
        defaults={
            "payment": payment,
            "amount": amount,
            "currency": payment.currency,
            "reason": str(_get(data, "reason", ""))[:64],
            "opened_at": _from_timestamp(_required(data, "created")),
        },
    )
    if dispute.payment_id != payment.pk:
        raise Conflict("dispute_mismatch", f"Dispute {data['id']} belongs to another payment.")
    owed: dict[int, int] = {}
    for txn in _required(data, "balance_transactions"):
        if isinstance(txn, str):
            continue  # not expanded: the fund movement arrives with a later event
        _check_currency(payment.currency, _required(txn, "currency"), what=f"Balance transaction {txn['id']}")
        moved = int(txn["amount"])
        key = f"dispute:{dispute.pk}:{txn['id']}"
        if LedgerTransaction.objects.filter(idempotency_key=key).exists():
            continue  # posted by an earlier event (building its lines again would move the books)
        if moved < 0:
            lines, booked = postings.loss_lines(payment, -moved, LedgerAccount.Purpose.DISPUTES, books)
            postings.post(
                LedgerTransaction.Kind.DISPUTE, payment.reference, key, lines, f"chargeback {data['id']}"
            )
            owed.update(booked)
        elif moved > 0:
            lines = postings.gain_lines(payment, moved, LedgerAccount.Purpose.DISPUTES, books)
            postings.post(
                LedgerTransaction.Kind.DISPUTE_WON,
                payment.reference,
                key,
                lines,
                f"chargeback {data['id']} reinstated",
            )
    target = DISPUTE_STATUS.get(_required(data, "status"), Dispute.Status.OPEN)
    dispute.stripe_status = str(_required(data, "status"))[:32]
    if target != dispute.status and target in Dispute.TRANSITIONS[dispute.status]:
        dispute.status = target
        dispute.closed_at = _now()
    dispute.save()
    return owed


# --- Payments: the services callers use -----------------------------------------------------------


def payment_refund(
    *, payment_id: int, amount: int | None = None, currency: str | None = None, reason: str = ""
) -> Refund:
    """Refund the buyer (all that is left, or `amount`). After settlement the sellers' shares and
    the fee are taken back: from their payable balance, else by reversing a transfer, else as a
    receivable."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("not_found", "No such payment.")
    if currency is not None:
        _check_currency(payment.currency, currency, what="The refund")
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment_id)
        if payment.status not in (Payment.Status.CAPTURED, Payment.Status.PARTIALLY_REFUNDED):
            raise Conflict("payment_not_refundable", f"Payment {payment.pk} is {payment.status}.")
        in_flight = (
            payment.refunds.filter(kind=Refund.Kind.REFUND, status=Refund.Status.PENDING).aggregate(
                t=Sum("amount")
            )["t"]
            or 0
        )
        refundable = payment.amount_captured - payment.amount_refunded - in_flight
        amount = refundable if amount is None else amount
        money.check_amount(amount, payment.currency)
        if amount > refundable:
            raise InvalidInput("amount_too_large", f"At most {refundable} can be refunded.", field="amount")
        refund = Refund.objects.create(
            payment=payment, amount=amount, currency=payment.currency, reason=reason[:200]
        )
    return _refund_send(refund)


def _refund_send(refund: Refund) -> Refund:
    payment = refund.payment
    api = client().v1
    try:
        created = create_once(
            refund,
            lambda: api.refunds.create(
                {
                    "payment_intent": stripe_id(payment.stripe_payment_intent_id),
                    "amount": refund.amount,
                    "metadata": {
                        "courtier_refund_id": str(refund.pk),
                        "courtier_payment_id": str(payment.pk),
                    },
                },
                {"idempotency_key": refund.idempotency_key("create")},
            ),
            listed=lambda: api.refunds.list(
                {"payment_intent": stripe_id(payment.stripe_payment_intent_id), "limit": 100}
            ).auto_paging_iter(),
            ours=("courtier_refund_id", refund.pk),
        )
    except stripe.InvalidRequestError as exc:
        with transaction.atomic(durable=True):
            locked = lock_objects.refund(refund.pk)
            locked.failure_message = _stripe_message(exc)
            locked.save(update_fields=["failure_message"])
            _refund_transition(locked, Refund.Status.FAILED)
        raise Conflict("refund_refused", _stripe_message(exc)) from exc
    owed: dict[int, int] = {}
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment.pk)
        books = _lock_books(payment)
        owed = _apply_refund(payment, created, books)
        _payment_derive_after_capture(payment, "refunded")
        from payments import tasks  # here: payments.tasks imports the services

        for seller_id in owed:
            _queue_after_commit(tasks.payout_recover, seller_id, payment.currency)
    refund.refresh_from_db()
    return refund
