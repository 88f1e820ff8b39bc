"""How payments reports outcomes to the app that asked for the payment, without importing it.

`marketplace` registers a handler at start-up (AppConfig.ready). Every status change of a payment
writes a PaymentEvent in the same transaction (the outbox); `services.payment_outcomes_deliver`
then calls the handlers once per event, after commit, in order per payment, and a beat sweep
re-delivers whatever a lost message or a failing handler left behind. Delivery is at least once:
handlers must be idempotent (by `event_id`). They are called outside any payments transaction
and open their own (they may take their own locks, e.g. marketplace's Trade).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PaymentOutcome:
    event_id: int  # the PaymentEvent: the same event may be delivered twice
    payment_id: int
    reference: str  # the caller's opaque reference, e.g. "trade:42"
    previous_status: str
    status: str  # Payment.Status value
    amount: int
    amount_captured: int
    amount_refunded: int
    currency: str
    reason: str  # for the buyer: why it failed or what they must do


PaymentOutcomeHandler = Callable[[PaymentOutcome], None]
_handlers: list[PaymentOutcomeHandler] = []


def register_payment_outcome_handler(handler: PaymentOutcomeHandler) -> None:
    if handler not in _handlers:
        _handlers.append(handler)


def run_payment_outcome_handlers(outcome: PaymentOutcome) -> None:
    for handler in list(_handlers):
        handler(outcome)
