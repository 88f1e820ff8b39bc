"""Every write to payments, one module per domain, re-exported here: buyers' customers and cards
(customers), payments: authorise, capture, cancel (charges), refunds and
disputes (refunds_disputes), settlement credits (settlement), sellers' Connect accounts (connect),
payouts and their reversals (payouts), the resume sweep and outcome delivery (recovery), Stripe
against our books and our books against each other (reconciliation).

How a Stripe step runs (no network call while holding a lock):
1. validate, then in one short transaction lock, write the row (status pending) and commit;
2. call Stripe with the idempotency key `<row>:<id>:<step>` (no transaction open);
3. in a new transaction re-lock the row, re-check its status, record what Stripe answered, post
   the ledger (idempotent keys from our row ids) and write the status event, commit.
If 3 never happens (crash, timeout), the row stays pending; running the step again (the caller's
retry, a webhook, or the resume sweep) replays the same key, so Stripe does it once and we record
it once. Declines and authentication requests are final answers, never retried blindly.
See payments/postings.py for the chart of accounts.
"""

from payments.services._common import StripePayloadInvalid, UnknownStripeObject
from payments.services.charges import (
    IntentSnapshot,
    _payment_capture_send,
    _payment_open,
    _payment_send,
    payment_authorise,
    payment_cancel,
    payment_capture,
    payment_sync,
)
from payments.services.connect import (
    connect_account_ensure,
    connect_account_sync,
    connect_onboarding_link_create,
)
from payments.services.customers import (
    SETUP_OPEN,
    payment_method_save,
    payment_method_setup_intent_create,
    stripe_customer_ensure,
)
from payments.services.payouts import (
    _reversal_send,
    payout_bank_outcome,
    payout_create,
    payout_recover,
    payout_recover_receivables,
    payout_sweep,
    payout_sync_transfer,
    payout_transfer,
)
from payments.services.reconciliation import reconciliation_issue_resolve, reconciliation_run
from payments.services.recovery import (
    RESUMABLE,
    RESUME_LIMIT,
    payment_outcomes_deliver,
    payments_resume_pending,
    payments_unpark,
)
from payments.services.refunds_disputes import DISPUTE_STATUS, _refund_send, payment_refund
from payments.services.retries import payment_retry, payout_retry
from payments.services.settlement import settlement_credit
from payments.stripe_calls import StripeUnavailable

__all__ = [
    # errors
    "StripeUnavailable",
    "StripePayloadInvalid",
    "UnknownStripeObject",
    # buyers: customers and cards
    "SETUP_OPEN",
    "payment_method_save",
    "payment_method_setup_intent_create",
    "stripe_customer_ensure",
    # payments
    "IntentSnapshot",
    "payment_authorise",
    "payment_cancel",
    "payment_capture",
    "payment_sync",
    # a moderator's retries (issue 14)
    "payment_retry",
    "payout_retry",
    # refunds and disputes
    "DISPUTE_STATUS",
    "payment_refund",
    # settlement
    "settlement_credit",
    # sellers: Connect accounts
    "connect_account_ensure",
    "connect_account_sync",
    "connect_onboarding_link_create",
    # payouts
    "payout_bank_outcome",
    "payout_create",
    "payout_recover",
    "payout_recover_receivables",
    "payout_sweep",
    "payout_sync_transfer",
    "payout_transfer",
    # reconciliation
    "reconciliation_issue_resolve",
    "reconciliation_run",
    # sweeps
    "RESUMABLE",
    "RESUME_LIMIT",
    "payment_outcomes_deliver",
    "payments_resume_pending",
    "payments_unpark",
    # private steps that tests/payments/test_stripe_faults.py drives one by one
    "_payment_capture_send",
    "_payment_open",
    "_payment_send",
    "_refund_send",
    "_reversal_send",
]
