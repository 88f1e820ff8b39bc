"""Idempotency-Key on every buyer API request that changes something: the payment-method POSTs
replay their first answer against the real localstripe sandbox (one SetupIntent, one attached
card), refuse the key with another body (422), and every mutating route of /api/v1/ is wrapped by
core.idempotency (walked from the URL resolver, so a new route cannot forget it)."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.idempotency import honours_idempotency_key
from core.models import IdempotencyRecord
from payments.models import StripeCustomer
from tests.factories import VerifiedOrganisationFactory

SETUP_INTENT = "/api/v1/payment-methods/setup-intent/"
PAYMENT_METHODS = "/api/v1/payment-methods/"
MUTATING_METHODS = ("post", "put", "patch", "delete")


@pytest.fixture
def organisation(transactional_db):
    return VerifiedOrganisationFactory()


@pytest.fixture
def api(api_client_for, organisation):
    return api_client_for(organisation)


def setup_intents_of(stripe_api, organisation) -> list[str]:
    customer = StripeCustomer.objects.get(organisation=organisation).stripe_customer_id
    return [i.id for i in stripe_api.v1.setup_intents.list({"limit": 100}).data if i.customer == customer]


def cards_of(stripe_api, organisation) -> list[str]:
    customer = StripeCustomer.objects.get(organisation=organisation).stripe_customer_id
    return [m.id for m in stripe_api.v1.payment_methods.list({"customer": customer, "type": "card"}).data]


# ---------------------------------------------------------------------------------------------
# The payment-method endpoints, against localstripe
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_setup_intent_requested_twice_with_one_key_is_created_once(api, organisation, stripe_api):
    first = api.post(SETUP_INTENT, HTTP_IDEMPOTENCY_KEY="card-form-1")
    again = api.post(SETUP_INTENT, HTTP_IDEMPOTENCY_KEY="card-form-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert setup_intents_of(stripe_api, organisation) == [first.json()["setup_intent"]]

    # without a key the open SetupIntent (no card on it yet) is handed out again, not a second one
    other = api.post(SETUP_INTENT)
    assert other.json()["setup_intent"] == first.json()["setup_intent"]
    assert setup_intents_of(stripe_api, organisation) == [first.json()["setup_intent"]]


@pytest.mark.django_db(transaction=True)
def test_a_card_saved_twice_with_one_key_is_attached_once(api, organisation, stripe_api):
    # pm_card_visa makes a new payment method on every use, so a second run would attach another
    first = api.post(
        PAYMENT_METHODS, {"payment_method": "pm_card_visa"}, format="json", HTTP_IDEMPOTENCY_KEY="save-1"
    )
    again = api.post(
        PAYMENT_METHODS, {"payment_method": "pm_card_visa"}, format="json", HTTP_IDEMPOTENCY_KEY="save-1"
    )

    assert first.status_code == again.status_code == 200, first.json()
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert cards_of(stripe_api, organisation) == [first.json()["payment_method"]]
    saved = StripeCustomer.objects.get(organisation=organisation)
    assert saved.default_payment_method_id == first.json()["payment_method"]
    record = IdempotencyRecord.objects.get(organisation=organisation, key="save-1")
    assert (record.method_path, record.response_status, record.response_body) == (
        f"POST {PAYMENT_METHODS}",
        200,
        first.json(),
    )


@pytest.mark.django_db(transaction=True)
def test_a_confirmed_setup_intent_saved_twice_with_one_key_answers_once(api, organisation, stripe_api):
    intent = api.post(SETUP_INTENT).json()["setup_intent"]
    stripe_api.v1.setup_intents.confirm(intent, {"payment_method": "pm_card_visa"})
    body = {"setup_intent": intent}

    first = api.post(PAYMENT_METHODS, body, format="json", HTTP_IDEMPOTENCY_KEY="save-seti")
    again = api.post(PAYMENT_METHODS, body, format="json", HTTP_IDEMPOTENCY_KEY="save-seti")

    assert first.status_code == again.status_code == 200, first.json()
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert cards_of(stripe_api, organisation) == [first.json()["payment_method"]]


@pytest.mark.django_db(transaction=True)
def test_the_same_key_with_another_body_or_endpoint_gets_422_and_changes_nothing(
    api, organisation, stripe_api
):
    first = api.post(
        PAYMENT_METHODS, {"payment_method": "pm_card_visa"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    card = first.json()["payment_method"]

    other_body = api.post(
        PAYMENT_METHODS,
        {"payment_method": "pm_card_visa_chargeDeclined"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    other_endpoint = api.post(SETUP_INTENT, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 200
    for response in (other_body, other_endpoint):
        assert response.status_code == 422
        assert response["Content-Type"] == "application/problem+json"
        assert {k: response.json()[k] for k in ("code", "detail", "status")} == {
            "code": "idempotency_key_reused",
            "detail": "This key was used with another request.",
            "status": 422,
        }
    assert cards_of(stripe_api, organisation) == [card]
    assert setup_intents_of(stripe_api, organisation) == []
    assert StripeCustomer.objects.get(organisation=organisation).default_payment_method_id == card
    assert IdempotencyRecord.objects.filter(organisation=organisation).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refused_card_is_replayed_not_retried(api, organisation, stripe_api):
    body = {"payment_method": "pm_does_not_exist"}

    first = api.post(PAYMENT_METHODS, body, format="json", HTTP_IDEMPOTENCY_KEY="bad-card")
    again = api.post(PAYMENT_METHODS, body, format="json", HTTP_IDEMPOTENCY_KEY="bad-card")

    assert first.status_code == again.status_code == 422
    assert again.json() == first.json() and first.json()["code"] == "payment_method_unknown"
    assert again["Idempotent-Replayed"] == "true"
    assert StripeCustomer.objects.get(organisation=organisation).default_payment_method_id == ""


# ---------------------------------------------------------------------------------------------
# Every mutating buyer route is wrapped
# ---------------------------------------------------------------------------------------------


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def mutating_buyer_routes() -> list[tuple[str, str, type]]:
    """(method, route, view class) for every handler of /api/v1/ that may change something."""
    found = []
    for route, callback in _routes(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None)
        if not route.startswith("api/v1/") or view_class is None:
            continue
        for method in MUTATING_METHODS:
            if method in view_class.http_method_names and hasattr(view_class, method):
                found.append((method.upper(), route, view_class))
    return found


def test_the_walk_finds_the_buyer_api_mutating_routes():
    found = {(method, route) for method, route, _view in mutating_buyer_routes()}

    assert {
        ("POST", "api/v1/payment-methods/"),
        ("POST", "api/v1/payment-methods/setup-intent/"),
        ("POST", "api/v1/bids/"),
        ("PATCH", "api/v1/bids/<uuid:public_id>/"),
        ("DELETE", "api/v1/bids/<uuid:public_id>/"),
        ("POST", "api/v1/organisation/verification-request/"),
    } <= found
    assert not any(route.startswith("api/v1/payments") for _method, route in found)


@pytest.mark.parametrize(
    ("method", "route", "view_class"),
    mutating_buyer_routes(),
    ids=[f"{method} /{route}" for method, route, _view in mutating_buyer_routes()],
)
def test_every_mutating_buyer_route_honours_idempotency_key(method, route, view_class):
    handler = getattr(view_class, method.lower())

    assert honours_idempotency_key(handler), (
        f"{view_class.__module__}.{view_class.__qualname__}.{method.lower()} is not decorated "
        "with core.idempotency.idempotent"
    )
