"""What settlement needs from payments, in one place. payments knows a settlement batch only as an
opaque reference ("settlement-batch:<id>"); every call is idempotent by that reference and keys
derived from the payment's row id, so a retried step never authorises, captures or credits twice."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists

from core.errors import InvalidInput
from marketplace.models import SettlementBatch
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.models import Payment


class PaymentUnavailable(Exception):
    """Stripe could not be reached, or has not answered yet: nothing was decided; retry later."""


@dataclass(frozen=True)
class Authorisation:
    authorised: bool
    final: bool  # a decline is final; requires_action is not
    reason: str = ""


def has_payment_method(*, organisation_id: int) -> bool:
    """Whether the organisation has a saved card to pay with (checked before every bid)."""
    return payment_selectors.has_payment_method(organisation_id=organisation_id)


def has_payment_method_expression(*, organisation_id: int) -> Exists:
    """`has_payment_method` as a boolean expression, read within another query (the bid's listing lock)."""
    return payment_selectors.has_payment_method_expression(organisation_id=organisation_id)


def _payment(batch: SettlementBatch) -> Payment:
    payment = payment_selectors.payment_of_reference(reference=batch.payment_reference)
    if payment is None:
        raise PaymentUnavailable(f"no payment for {batch.payment_reference}")
    return payment


def authorise(*, batch: SettlementBatch) -> Authorisation:
    try:
        payment = payment_services.payment_authorise(
            reference=batch.payment_reference,
            organisation_id=batch.organisation_id,
            amount=batch.authorised_cents,
            currency=batch.currency,
        )
    except payment_services.StripeUnavailable as exc:
        raise PaymentUnavailable(str(exc)) from exc
    except InvalidInput as exc:  # no saved card: the buyer must act
        return Authorisation(authorised=False, final=True, reason=exc.message)
    if payment.status in (Payment.Status.AUTHORISED, Payment.Status.CAPTURED):
        return Authorisation(authorised=True, final=True)
    if payment.status == Payment.Status.REQUIRES_ACTION:
        return Authorisation(
            authorised=False, final=False, reason="requires_action: the buyer must authenticate"
        )
    if payment.status == Payment.Status.PENDING:
        raise PaymentUnavailable("payment still pending at Stripe")
    return Authorisation(authorised=False, final=True, reason=payment.failure_message or payment.status)


def cancel(*, batch: SettlementBatch) -> None:
    payment = payment_selectors.payment_of_reference(reference=batch.payment_reference)
    if payment is None or payment.status in (Payment.Status.CANCELED, Payment.Status.FAILED):
        return
    try:
        payment_services.payment_cancel(payment_id=payment.pk)
    except payment_services.StripeUnavailable as exc:
        raise PaymentUnavailable(str(exc)) from exc


def capture(*, batch: SettlementBatch, amount: int) -> None:
    try:
        payment = payment_services.payment_capture(payment_id=_payment(batch).pk, amount=amount)
    except payment_services.StripeUnavailable as exc:
        raise PaymentUnavailable(str(exc)) from exc
    if payment.status != Payment.Status.CAPTURED:
        raise PaymentUnavailable(f"payment {payment.pk} is {payment.status} after capture")


def credit_sellers(*, batch: SettlementBatch, seller_shares: list[tuple[int, int]], fee_bps: int) -> None:
    """Inside the settlement transaction (the trades locked; payments locks its payment next)."""
    payment_services.settlement_credit(
        reference=batch.payment_reference,
        payment=_payment(batch),
        seller_shares=seller_shares,
        fee_bps=fee_bps,
    )
