"""What settlement needs from payments, in one place. payments knows trades only as an opaque
reference ("trade:<id>"); every call is idempotent by that reference and keys derived from the
payment's row id, so a retried step never authorises, captures or credits twice."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.errors import InvalidInput
from marketplace.models import Trade
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.models import Payment


class PaymentUnavailable(Exception):
    """Stripe could not be reached: nothing was decided; retry later."""


@dataclass(frozen=True)
class Authorisation:
    authorised: bool
    final: bool  # a decline is final; requires_action is not
    reason: str = ""


def reference(trade: Trade) -> str:
    return f"trade:{trade.pk}"


def _payment(trade: Trade) -> Payment:
    payment = payment_selectors.payment_of_reference(reference=reference(trade))
    if payment is None:
        raise PaymentUnavailable(f"no payment for {reference(trade)}")
    return payment


def authorise(*, trade: Trade, amount: int) -> Authorisation:
    try:
        payment = payment_services.payment_authorise(
            reference=reference(trade), organisation_id=trade.organisation_id, amount=amount, currency=trade.currency
        )
    except payment_services.StripeUnavailable as exc:
        raise PaymentUnavailable(str(exc)) from exc
    except InvalidInput as exc:  # no saved card, bad amount: the buyer must act
        return Authorisation(authorised=False, final=True, reason=exc.message)
    if payment.status in (Payment.Status.AUTHORISED, Payment.Status.CAPTURED):
        return Authorisation(authorised=True, final=True)
    if payment.status == Payment.Status.REQUIRES_ACTION:
        return Authorisation(authorised=False, final=False, reason="requires_action: the buyer must authenticate")
    if payment.status == Payment.Status.PENDING:
        raise PaymentUnavailable("payment still pending at Stripe")
    return Authorisation(authorised=False, final=True, reason=payment.failure_message or payment.status)


def cancel(*, trade: Trade) -> None:
    try:
        payment_services.payment_cancel(payment_id=_payment(trade).pk)
    except payment_services.StripeUnavailable as exc:
        raise PaymentUnavailable(str(exc)) from exc


def capture(*, trade: Trade, amount: int) -> None:
    try:
        payment = payment_services.payment_capture(payment_id=_payment(trade).pk, amount=amount)
    except payment_services.StripeUnavailable as exc:
        raise PaymentUnavailable(str(exc)) from exc
    if payment.status != Payment.Status.CAPTURED:
        raise PaymentUnavailable(f"payment {payment.pk} is {payment.status} after capture")


def credit_sellers(*, trade: Trade, seller_shares: list[tuple[int, int]]) -> None:
    """Inside the settlement transaction (the trade locked; payments locks its payment next)."""
    payment_services.settlement_credit(
        reference=reference(trade), payment=_payment(trade), seller_shares=seller_shares, fee_bps=trade.fee_bps
    )
