"""What settlement needs from payments, in one place. payments knows trades only as an opaque
reference ("trade:<id>"); every call is idempotent by keys derived from that reference."""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.models import Trade


class PaymentUnavailable(Exception):
    """Stripe could not be reached: nothing was decided; retry later."""


@dataclass(frozen=True)
class Authorisation:
    authorised: bool
    final: bool  # a decline is final; requires_action is not
    reason: str = ""


def reference(trade: Trade) -> str:
    return f"trade:{trade.pk}"


def authorise(*, trade: Trade, amount: int) -> Authorisation:
    raise NotImplementedError


def cancel(*, trade: Trade) -> None:
    raise NotImplementedError


def capture(*, trade: Trade, amount: int) -> None:
    raise NotImplementedError


def credit_sellers(*, trade: Trade, seller_shares: list[tuple[int, int]]) -> None:
    raise NotImplementedError
