"""The payments models, one module per side: base (what Stripe-facing rows share), charges
(buyers), payouts (sellers), inbound (webhook events, reconciliation), ledger."""

from payments.models.base import StripeOperation, StripeSteps
from payments.models.charges import (
    Dispute,
    Payment,
    PaymentEvent,
    Refund,
    RefundEvent,
    SettlementShare,
    StripeCustomer,
)
from payments.models.inbound import ReconciliationIssue, ReconciliationRun, StripeEvent
from payments.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.models.payouts import ConnectAccount, Payout, PayoutEvent, PayoutReversal, PayoutReversalEvent

__all__ = [
    "ConnectAccount",
    "Dispute",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Payment",
    "PaymentEvent",
    "Payout",
    "PayoutEvent",
    "PayoutReversal",
    "PayoutReversalEvent",
    "ReconciliationIssue",
    "ReconciliationRun",
    "Refund",
    "RefundEvent",
    "SettlementShare",
    "StripeCustomer",
    "StripeEvent",
    "StripeOperation",
    "StripeSteps",
]
