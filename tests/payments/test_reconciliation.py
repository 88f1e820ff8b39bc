"""Reconciliation matches Stripe's balance transactions one to one with ledger postings: nothing
to report on a clean run; planted mismatches are each reported once, to moderators."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments import ledger, postings, services
from payments.models import LedgerAccount, LedgerTransaction, Payment, ReconciliationIssue, Refund
from tests.conftest import staff_client
from tests.payments.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)
NOW = timedelta(0)
K = ReconciliationIssue.Kind
A = LedgerAccount.Purpose


@pytest.fixture
def busy_books(buyer, paid_seller, stripe_sandbox):
    """Captures, a partial capture, refunds, a payout, a reversal and a won dispute."""
    seller = paid_seller()
    first = charge(reference="t:1", organisation_id=buyer.pk, amount=30_00)
    services.settlement_credit(
        reference="t:1", payment=first, seller_shares=[(seller.pk, 30_00)], fee_bps=1000
    )
    services.payout_sweep()
    services.payment_refund(payment_id=first.pk, amount=5_00)  # after payout: a transfer reversal
    second = services.payment_authorise(reference="t:2", organisation_id=buyer.pk, amount=20_00)
    services.payment_capture(payment_id=second.pk, amount=12_00)
    services.settlement_credit(
        reference="t:2", payment=second, seller_shares=[(seller.pk, 12_00)], fee_bps=1000
    )
    services.payment_refund(payment_id=second.pk, amount=2_00)  # after settlement: from the payable
    return seller


def test_a_clean_run_reports_nothing(busy_books, stripe_api, connect_api):
    run = services.reconciliation_run(grace=NOW)

    # one balance history, as at Stripe: charges and refunds, the transfer and its reversal
    at_stripe = len(stripe_api.v1.balance_transactions.list({"limit": 100}).data)
    assert run.issues == 0 and not ReconciliationIssue.objects.exists()
    assert run.balance_transactions == at_stripe == run.matched == 6


def charge_outside_our_books(stripe_api, amount: int) -> str:
    outsider = stripe_api.v1.customers.create({"email": "outsider@example.test"})
    intent = stripe_api.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": "eur",
            "customer": outsider.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    return next(
        c.id for c in stripe_api.v1.charges.list({"limit": 100}).data if c.payment_intent == intent.id
    )


def test_planted_mismatches_are_reported_once(busy_books, buyer, stripe_api, client, moderator):
    # 1. money moved at Stripe that our books never heard of
    unknown_charge = charge_outside_our_books(stripe_api, 4_44)
    # 2. a posting for a refund Stripe never made
    payment = Payment.objects.get(reference="t:2")
    ghost = Refund.objects.create(
        payment=payment, amount=1_00, currency="EUR", status="succeeded", stripe_refund_id="re_ghost"
    )
    lines, _owed = postings.loss_lines(payment, 1_00, "refunds", None)
    postings.post("refund", payment.reference, f"refund:{ghost.pk}", lines, "planted")
    # 3. a capture booked for another amount than Stripe moved
    charged = charge_outside_our_books(stripe_api, 7_00)
    wrong = Payment.objects.create(
        reference="t:3",
        organisation=buyer,
        customer=payment.customer,
        amount=7_00,
        payment_method_id="pm_x",
        status="captured",
        amount_captured=7_00,
        stripe_charge_id=charged,
    )
    postings.post_capture(wrong, 6_99)

    run = services.reconciliation_run(grace=NOW)
    again = services.reconciliation_run(grace=NOW)

    issues = {(i.kind, i.stripe_object_id) for i in ReconciliationIssue.objects.all()}
    assert issues == {
        (K.MISSING_IN_LEDGER, unknown_charge),
        (K.MISSING_AT_STRIPE, "re_ghost"),
        (K.AMOUNT_MISMATCH, charged),
        (K.CAPTURED_NOT_CREDITED, charged),  # the planted capture credited nobody either
        (K.CHARGES_NOT_NETTED, ""),  # the ghost refund took from a settled payment's charges
    }
    assert run.issues == again.issues == 5
    assert ReconciliationIssue.objects.count() == 5  # a finding stays one open issue across runs
    mismatch = ReconciliationIssue.objects.get(kind=K.AMOUNT_MISMATCH)
    assert (mismatch.stripe_amount, mismatch.ledger_amount) == (7_00, 6_99)

    staff_client(moderator, client)  # signed in, second factor passed
    page = client.get("/admin/payments/reconciliationissue/")
    assert page.status_code == 200 and b"re_ghost" in page.content
    services.reconciliation_issue_resolve(
        issue_id=mismatch.pk, moderator=moderator, resolution="planted in a test"
    )
    assert ReconciliationIssue.objects.filter(resolved_at__isnull=True).count() == 4
    assert ledger.unbalanced_transactions() == []


def test_what_is_younger_than_the_grace_period_waits(busy_books, stripe_api):
    charge_outside_our_books(stripe_api, 1_00)
    assert services.reconciliation_run(grace=timedelta(minutes=15)).issues == 0
    assert services.reconciliation_run(grace=NOW).issues == 1


def test_stripe_fees_are_booked_once_and_the_ledger_follows_stripes_net(
    busy_books, stripe_sandbox, stripe_api, connect_api, deliver
):
    payment = Payment.objects.get(reference="t:2")  # 12 € captured, 2 € refunded
    stripe_sandbox.dispute(
        charge=payment.stripe_charge_id,
        payment_intent=payment.stripe_payment_intent_id,
        amount=10_00,
        fee=15_00,  # the dispute fee Stripe keeps on the withdrawal
    )
    deliver(stripe_sandbox.connect_events("charge.dispute.created")[0])

    first = services.reconciliation_run(grace=NOW)
    second = services.reconciliation_run(grace=NOW)

    assert first.issues == second.issues == 0
    assert (first.fees_posted, second.fees_posted) == (1, 0)
    fee = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.STRIPE_FEE)
    assert fee.idempotency_key.startswith("stripe_fee:txn_")
    assert ledger.account_balance(ledger.ledger_account(A.STRIPE_FEES)) == 15_00
    at_stripe = stripe_api.v1.balance_transactions.list({"limit": 100}).data
    assert ledger.account_balance(ledger.ledger_account(A.STRIPE_BALANCE)) == sum(t.net for t in at_stripe)
    assert ledger.unbalanced_transactions() == []
