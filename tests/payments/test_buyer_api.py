"""Buyer API: save a card through a SetupIntent (or a test payment method id), see it, follow
payments. Bad input gets a clear 4xx and changes nothing."""

from __future__ import annotations

import pytest

from payments import services
from payments.models import StripeCustomer
from tests.factories import VerifiedOrganisationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def organisation(transactional_db):
    return VerifiedOrganisationFactory()


def test_a_card_saved_through_a_setup_intent(organisation, api_client_for, stripe_api):
    api = api_client_for(organisation)

    started = api.post("/api/v1/payment-methods/setup-intent/")

    assert started.status_code == 201
    body = started.json()
    assert (
        body["client_secret"].startswith(body["setup_intent"] + "_secret_")
        and body["status"] == "requires_payment_method"
    )
    customer = StripeCustomer.objects.get(organisation=organisation)
    assert stripe_api.v1.setup_intents.retrieve(body["setup_intent"]).customer == customer.stripe_customer_id
    # the buyer's browser confirms it with Stripe.js; the SDK stands in for it here
    stripe_api.v1.setup_intents.confirm(body["setup_intent"], {"payment_method": "pm_card_visa"})

    saved = api.post("/api/v1/payment-methods/", {"setup_intent": body["setup_intent"]}, format="json")

    assert saved.status_code == 200, saved.json()
    assert saved.json()["brand"] == "visa" and saved.json()["last4"] == "4242"
    assert api.get("/api/v1/payment-methods/").json() == saved.json()
    method = stripe_api.v1.payment_methods.retrieve(saved.json()["payment_method"])
    assert method.customer == customer.stripe_customer_id


def test_a_test_payment_method_id_works(organisation, api_client_for):
    saved = api_client_for(organisation).post(
        "/api/v1/payment-methods/", {"payment_method": "pm_card_visa"}, format="json"
    )
    assert saved.status_code == 200 and saved.json()["payment_method"].startswith("pm_")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"payment_method": "pm_does_not_exist"}, 422, "payment_method_unknown"),
        ({"payment_method": "pm_card_visa_chargeDeclined"}, 422, "card_declined"),
        ({"setup_intent": "seti_unknown"}, 422, "setup_intent_unknown"),
        ({}, 400, "invalid"),
        ({"payment_method": "pm_card_visa", "setup_intent": "seti_x"}, 400, "invalid"),
        ({"payment_method": "card_4242"}, 400, "invalid"),
    ],
)
def test_bad_cards_are_refused_and_change_nothing(organisation, api_client_for, body, status, code):
    api = api_client_for(organisation)
    api.post("/api/v1/payment-methods/", {"payment_method": "pm_card_visa"}, format="json")
    before = StripeCustomer.objects.get(organisation=organisation).default_payment_method_id

    response = api.post("/api/v1/payment-methods/", body, format="json")

    assert response.status_code == status and response.json()["code"] == code
    assert StripeCustomer.objects.get(organisation=organisation).default_payment_method_id == before


def test_an_unconfirmed_or_foreign_setup_intent_is_refused(organisation, api_client_for):
    api = api_client_for(organisation)
    mine = api.post("/api/v1/payment-methods/setup-intent/").json()["setup_intent"]
    theirs = (
        api_client_for(VerifiedOrganisationFactory()).post("/api/v1/payment-methods/setup-intent/").json()
    )

    assert api.post("/api/v1/payment-methods/", {"setup_intent": mine}, format="json").status_code == 409
    foreign = api.post("/api/v1/payment-methods/", {"setup_intent": theirs["setup_intent"]}, format="json")
    assert foreign.status_code == 422 and foreign.json()["code"] == "setup_intent_unknown"
    assert api.get("/api/v1/payment-methods/").status_code == 404


def test_payments_are_listed_for_their_organisation_only(buyer, api_client_for):
    payment = services.payment_authorise(reference="trade:1", organisation_id=buyer.pk, amount=4_20)
    mine, other = api_client_for(buyer), api_client_for(VerifiedOrganisationFactory())

    listed = mine.get("/api/v1/payments/").json()["results"]

    assert [p["id"] for p in listed] == [str(payment.public_id)]
    assert (
        listed[0]["status"] == "authorised"
        and listed[0]["amount"] == 4_20
        and listed[0]["next_action"] is None
    )
    assert other.get("/api/v1/payments/").json()["results"] == []
    assert other.get(f"/api/v1/payments/{payment.public_id}/").status_code == 404
    assert str(payment.pk) not in [p["id"] for p in listed]


def test_the_api_needs_a_key(client):
    assert client.post("/api/v1/payment-methods/setup-intent/").status_code in (401, 403)
    assert client.get("/api/v1/payments/").status_code in (401, 403)
