"""Buyer payments through the real SDK against localstripe: authorise, capture, cancel,
declines and 3-D Secure, bad input, and the ledger postings they make."""

from __future__ import annotations

import pytest

from core.errors import Conflict, InvalidInput
from payments import ledger, services
from payments.models import LedgerAccount, LedgerTransaction, Payment, PaymentEvent
from tests.payments.conftest import http

pytestmark = pytest.mark.django_db(transaction=True)
A = LedgerAccount.Purpose
S = Payment.Status


def balance(purpose: str) -> int:
    return ledger.account_balance(ledger.ledger_account(purpose))


def test_authorise_then_capture_posts_the_money_once(buyer, stripe_api):
    payment = services.payment_authorise(reference="trade:1", organisation_id=buyer.pk, amount=12_34)

    assert payment.status == S.AUTHORISED
    intent = stripe_api.v1.payment_intents.retrieve(payment.stripe_payment_intent_id)
    assert (
        intent.status == "requires_capture" and intent.amount == 12_34 and intent.capture_method == "manual"
    )
    assert intent.metadata["courtier_payment_id"] == str(payment.pk)
    assert not LedgerTransaction.objects.exists()  # nothing is ours until captured

    captured = services.payment_capture(payment_id=payment.pk)
    again = services.payment_capture(payment_id=payment.pk)

    assert captured.status == again.status == S.CAPTURED
    assert captured.amount_captured == 12_34 and captured.stripe_charge_id.startswith("ch_")
    assert balance(A.STRIPE_BALANCE) == 12_34 and balance(A.BUYER_CHARGES) == -12_34
    assert LedgerTransaction.objects.filter(kind="capture").count() == 1
    assert list(payment.events.values_list("to_status", flat=True)) == [S.AUTHORISED, S.CAPTURED]


def test_authorise_is_idempotent_by_reference(buyer, stripe_api):
    first = services.payment_authorise(reference="trade:2", organisation_id=buyer.pk, amount=500)
    second = services.payment_authorise(reference="trade:2", organisation_id=buyer.pk, amount=500)

    assert first.pk == second.pk
    assert len(stripe_api.v1.payment_intents.list({"limit": 100}).data) == 1
    with pytest.raises(Conflict):
        services.payment_authorise(reference="trade:2", organisation_id=buyer.pk, amount=501)


def test_cancel_releases_the_authorisation(buyer, stripe_api):
    payment = services.payment_authorise(reference="trade:3", organisation_id=buyer.pk, amount=700)

    canceled = services.payment_cancel(payment_id=payment.pk)

    assert canceled.status == S.CANCELED
    assert stripe_api.v1.payment_intents.retrieve(payment.stripe_payment_intent_id).status == "canceled"
    assert not LedgerTransaction.objects.exists()
    with pytest.raises(Conflict):
        services.payment_capture(payment_id=payment.pk)


def test_partial_capture_books_exactly_what_was_kept(buyer, stripe_api):
    """As at Stripe: the balance gets the captured amount, the charge reports the uncaptured rest
    as amount_refunded, and there is no Refund object for it."""
    payment = services.payment_authorise(reference="trade:5", organisation_id=buyer.pk, amount=10_00)

    payment = services.payment_capture(payment_id=payment.pk, amount=6_00)

    assert payment.status == S.CAPTURED and payment.amount_captured == 6_00 and payment.amount_refunded == 0
    assert balance(A.STRIPE_BALANCE) == 6_00 and balance(A.BUYER_CHARGES) == -6_00
    assert not payment.refunds.exists()
    charge = stripe_api.v1.charges.retrieve(payment.stripe_charge_id)
    assert (charge.amount_captured, charge.amount_refunded, charge.captured) == (6_00, 4_00, True)
    assert not stripe_api.v1.refunds.list({"charge": charge.id}).data
    run = services.reconciliation_run(grace=__import__("datetime").timedelta(0))
    # Stripe and the ledger match; our own books say only that no seller was credited yet
    assert run.matched == 1
    assert list(run.found.values_list("kind", flat=True)) == ["captured_not_credited"]


def test_a_decline_is_final_and_explained(buyer_with_card):
    organisation = buyer_with_card("4000000000000341")  # attaches, but every charge is declined

    payment = services.payment_authorise(reference="trade:6", organisation_id=organisation.pk, amount=900)
    again = services.payment_authorise(reference="trade:6", organisation_id=organisation.pk, amount=900)

    assert payment.status == S.FAILED == again.status and again.pk == payment.pk  # never retried blindly
    assert payment.failure_code == "card_declined" and "declined" in payment.failure_message
    assert not LedgerTransaction.objects.exists()
    retried = services.payment_authorise(
        reference="trade:6", organisation_id=organisation.pk, amount=900, new_attempt=True
    )
    assert retried.pk != payment.pk and retried.status == S.FAILED


def test_three_d_secure_asks_the_buyer_then_completes(
    buyer_with_card, stripe_api, api_client_for, stripe_sandbox
):
    organisation = buyer_with_card("4000002500003155")

    payment = services.payment_authorise(reference="trade:7", organisation_id=organisation.pk, amount=1_500)

    assert payment.status == S.REQUIRES_ACTION
    shown = api_client_for(organisation).get(f"/api/v1/payments/{payment.public_id}/").json()
    assert shown["status"] == "requires_action"
    assert shown["next_action"]["client_secret"] == payment.client_secret != ""
    # The buyer authenticates in Stripe.js (localstripe's test endpoint stands in for it) …
    status, _ = http(
        "POST",
        f"{stripe_sandbox.api_base}/v1/payment_intents/{payment.stripe_payment_intent_id}/_authenticate",
        {"client_secret": payment.client_secret, "success": "true"},
    )
    assert status == 200
    # … and the caller's retry (or the resume sweep) sees it authorised.
    payment = services.payment_authorise(reference="trade:7", organisation_id=organisation.pk, amount=1_500)
    assert payment.status == S.AUTHORISED


@pytest.mark.parametrize(
    ("amount", "currency"), [(0, "EUR"), (-5, "EUR"), (100, "USD"), (1.5, "EUR"), (10**12, "EUR")]
)
def test_bad_amounts_change_nothing(buyer, stripe_api, amount, currency):
    with pytest.raises(InvalidInput):
        services.payment_authorise(
            reference="trade:8", organisation_id=buyer.pk, amount=amount, currency=currency
        )
    assert not Payment.objects.exists()
    assert stripe_api.v1.payment_intents.list({"limit": 10}).data == []


def test_capture_and_refund_refuse_bad_input(buyer):
    payment = services.payment_authorise(reference="trade:9", organisation_id=buyer.pk, amount=1_000)
    for kwargs in ({"amount": 1_001}, {"amount": 0}, {"currency": "USD"}):
        with pytest.raises(InvalidInput):
            services.payment_capture(payment_id=payment.pk, **kwargs)
    services.payment_capture(payment_id=payment.pk)
    for kwargs in ({"amount": 1_001}, {"amount": -1}, {"currency": "GBP"}):
        with pytest.raises(InvalidInput):
            services.payment_refund(payment_id=payment.pk, **kwargs)
    assert not payment.refunds.exists()
    assert LedgerTransaction.objects.count() == 1


def test_no_card_no_payment(transactional_db):
    from tests.factories import VerifiedOrganisationFactory

    organisation = VerifiedOrganisationFactory()
    with pytest.raises(InvalidInput, match="card"):
        services.payment_authorise(reference="trade:10", organisation_id=organisation.pk, amount=100)
    assert not Payment.objects.exists() and not PaymentEvent.objects.exists()
