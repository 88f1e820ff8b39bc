"""Reconciliation also checks our books against each other and releases stray authorisations:
each planted inconsistency is reported as exactly that, once; a clean book reports nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments import ledger, postings, services
from payments.models import LedgerAccount, LedgerTransaction, Payment, ReconciliationIssue

pytestmark = pytest.mark.django_db(transaction=True)
NOW = timedelta(0)
K = ReconciliationIssue.Kind
A = LedgerAccount.Purpose


@pytest.fixture
def settled(buyer, paid_seller, stripe_sandbox):
    """One payment captured and credited to a seller: clean books."""
    seller = paid_seller()
    payment = services.payment_authorise(reference="settled:1", organisation_id=buyer.pk, amount=40_00)
    payment = services.payment_capture(payment_id=payment.pk)
    services.settlement_credit(
        reference="settled:1", payment=payment, seller_shares=[(seller.pk, 40_00)], fee_bps=1000
    )
    return payment, seller


def findings(run) -> set[tuple[str, str]]:
    return {(issue.kind, issue.stripe_object_id) for issue in run.found.all()}


def test_clean_books_report_nothing(settled):
    run = services.reconciliation_run(grace=NOW)
    assert run.issues == 0 and run.matched == 1


def test_a_captured_payment_nobody_credited_is_reported(settled, buyer):
    payment = services.payment_authorise(reference="lost:1", organisation_id=buyer.pk, amount=5_00)
    payment = services.payment_capture(payment_id=payment.pk)

    run = services.reconciliation_run(grace=NOW)
    again = services.reconciliation_run(grace=NOW)

    assert findings(run) == {(K.CAPTURED_NOT_CREDITED, payment.stripe_charge_id)}
    assert again.issues == 1 and ReconciliationIssue.objects.count() == 1
    # not yet past the grace period: settlement may still be crediting it
    ReconciliationIssue.objects.all().delete()
    assert services.reconciliation_run(grace=timedelta(minutes=15)).issues == 0


def test_buyer_charges_left_on_a_settled_payment_are_reported(settled):
    payment, _seller = settled
    ledger.ledger_post(
        kind=LedgerTransaction.Kind.CAPTURE,
        reference=payment.reference,
        idempotency_key="planted:charges",
        lines=[
            postings.Line(postings.platform(A.STRIPE_FEES, "EUR"), 1_00),
            postings.Line(postings.platform(A.BUYER_CHARGES, "EUR"), -1_00),
        ],
        memo="planted",
    )

    run = services.reconciliation_run(grace=NOW)

    assert findings(run) == {(K.CHARGES_NOT_NETTED, "")}
    assert "leaves 100 EUR in buyer_charges" in run.found.get().detail


def test_a_payable_that_does_not_follow_shares_and_payouts_is_reported(settled):
    _payment, seller = settled
    ledger.ledger_post(
        kind=LedgerTransaction.Kind.SETTLEMENT,
        reference="planted",
        idempotency_key="planted:payable",
        lines=[
            postings.Line(postings.platform(A.PLATFORM_FEES, "EUR"), 3_00),
            postings.Line(ledger.ledger_account(A.SELLER_PAYABLE, "EUR", seller_id=seller.pk), -3_00),
        ],
        memo="planted",
    )

    run = services.reconciliation_run(grace=NOW)

    assert findings(run) == {(K.PAYABLE_MISMATCH, "")}
    assert "credited 3900 for shares of 3600" in run.found.get().detail


def intents_of(stripe_api, customer_id: str) -> dict[str, str]:
    return {
        i.id: i.status
        for i in stripe_api.v1.payment_intents.list({"limit": 100}).data
        if i.customer == customer_id
    }


def test_a_second_authorisation_for_one_payment_is_cancelled_and_reported(settled, buyer, stripe_api):
    payment = services.payment_authorise(reference="held:1", organisation_id=buyer.pk, amount=7_00)
    customer = buyer.stripe_customer.stripe_customer_id
    # what a crash during the create left behind: a second hold naming the same payment
    orphan = stripe_api.v1.payment_intents.create(
        {
            "amount": 7_00,
            "currency": "eur",
            "customer": customer,
            "payment_method": buyer.stripe_customer.default_payment_method_id,
            "capture_method": "manual",
            "confirm": True,
            "metadata": {"courtier_payment_id": str(payment.pk)},
        }
    )
    assert orphan.status == "requires_capture"

    run = services.reconciliation_run(grace=NOW)
    services.reconciliation_run(grace=NOW)

    assert findings(run) == {(K.ORPHAN_AUTHORISATION, orphan.id)}
    assert f"names payment {payment.pk}" in run.found.get().detail
    assert intents_of(stripe_api, customer) == {
        payment.stripe_payment_intent_id: "requires_capture",  # ours is untouched
        orphan.id: "canceled",
        Payment.objects.get(reference="settled:1").stripe_payment_intent_id: "succeeded",
    }
    assert ReconciliationIssue.objects.count() == 1


def test_an_authorisation_past_its_deadline_is_cancelled_and_reported(settled, buyer, stripe_api, settings):
    payment = services.payment_authorise(reference="held:2", organisation_id=buyer.pk, amount=9_00)
    settings.RECONCILIATION_AUTHORISATION_MAX_HOURS = 0

    run = services.reconciliation_run(grace=NOW)

    assert findings(run) == {(K.STALE_AUTHORISATION, payment.stripe_payment_intent_id)}
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CANCELED
    customer = buyer.stripe_customer.stripe_customer_id
    assert intents_of(stripe_api, customer)[payment.stripe_payment_intent_id] == "canceled"
