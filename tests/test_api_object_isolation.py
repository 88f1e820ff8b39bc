"""Every object endpoint × two organisations: no foreign object is readable or writable.

The URL resolver is walked for every /api/v1/ route with a path parameter, so a new object
endpoint is covered as soon as it is routed (and fails here until its collection is mapped to an
object kind below). Organisation A owns a real object of each kind: an open auction bid, a
delivered trade with its records and access grants, a deletion notice, a payment authorised
through the Stripe sandbox, a webhook endpoint, an event and its delivery. Organisation B
(verified, a card, a key with every scope) calls every HTTP method each view serves, with a body
A could send, on A's object: 404 `not_found`, and nothing in the database changed (every row of
the project's tables, A's objects included, compared before and after). A's identical request
succeeds, so B's 404 is about ownership, not the body or the object's state.

Listings are the one object without an owner among buyers: every buyer reads every active listing
(`test_listings_are_public_to_every_buyer`).

The objects are built once for the module in a transaction rolled back at its end; each test runs
in a savepoint of it (pytest-django's `db`), so A's writes in one test do not leak into the next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts import services as account_services
from marketplace import services as marketplace_services
from marketplace.models import AccessGrant, DeletionNotice, WebhookDelivery
from payments import services as payment_services
from tests.factories import PayingOrganisationFactory, VerifiedOrganisationFactory
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import audience_sellers, bundle_trade, consent_of, deliver
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET, stripe_sandbox  # noqa: F401

pytestmark = pytest.mark.django_db

# The first segment of an object route under /api/v1/ → the kind of object its id names.
KINDS = {
    "bids": "bid",
    "trades": "trade",
    "access-grants": "access_grant",
    "deletion-notices": "deletion_notice",
    "payments": "payment",
    "webhook-endpoints": "webhook_endpoint",
    "webhook-events": "webhook_event",
    "webhook-deliveries": "webhook_delivery",
}
# Object routes every buyer reads alike: no organisation owns them.
PUBLIC = {"listings"}
METHODS = ("get", "post", "put", "patch", "delete")
# Bodies A could send (a raise above its bid, a new loopback URL: tests allow loopback).
BODIES = {
    ("PATCH", "bid"): {"amount_cents": 2500},
    ("PATCH", "webhook_endpoint"): {
        "url": "http://127.0.0.1:9/hooks/taken-over",
        "event_types": ["bid.won"],
        "description": "taken over",
    },
}
# The caller's own key and usage counters change with every request; nothing else may.
NOT_COMPARED = {"accounts.apikey", "accounts.apiusageday"}
ID_PARAMETER = "<uuid:public_id>"


def _api_routes() -> list[tuple[str, type]]:
    """(route under /api/v1/, view class) of every routed API view."""
    found: list[tuple[str, type]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                found.append((route, pattern.callback.cls))

    walk(get_resolver().url_patterns, "")
    return found


def _object_routes() -> list[tuple[str, str, type]]:
    """(route, its collection, view class) of every /api/v1/ route with a path parameter."""
    return [
        (route, route.removeprefix("api/v1/").split("/")[0], view)
        for route, view in _api_routes()
        if "<" in route
    ]


def _operations() -> list[tuple[str, str, str, type]]:
    """(METHOD, route, object kind, view class) for every method each owned object's view serves."""
    return [
        (method.upper(), route, KINDS[collection], view)
        for route, collection, view in _object_routes()
        if collection in KINDS
        for method in METHODS
        if hasattr(view, method)
    ]


OPERATIONS = _operations()
IDS = [f"{method} /{route.replace(ID_PARAMETER, '{id}')}" for method, route, _kind, _view in OPERATIONS]


def _path(route: str, public_id) -> str:
    return "/" + route.replace(ID_PARAMETER, str(public_id))


def _json(body: dict | None) -> str:
    return json.dumps(body) if body is not None else ""


def _client(organisation) -> APIClient:
    _key, plaintext = account_services.api_key_create(organisation=organisation, name="isolation")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    return client


def _database() -> dict[str, list[dict]]:
    """Every row of the project's tables (but the caller's key and usage), by model."""
    return {
        model._meta.label_lower: list(model.objects.order_by("pk").values())
        for app in ("accounts", "listings", "marketplace", "payments", "core")
        for model in apps.get_app_config(app).get_models()
        if model._meta.label_lower not in NOT_COMPARED
    }


# ---------------------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------------------


def test_every_object_route_is_mapped_to_an_object_kind():
    routes = _object_routes()
    unmapped = [route for route, collection, _view in routes if collection not in KINDS.keys() | PUBLIC]
    assert not unmapped, f"map these object routes to a kind of object in KINDS (or PUBLIC): {unmapped}"
    odd = [route for route, _c, _v in routes if re.findall(r"<[^>]*>", route) != [ID_PARAMETER]]
    assert not odd, f"object routes take one {ID_PARAMETER}: {odd}"
    assert set(KINDS.values()) == {kind for _m, _r, kind, _v in OPERATIONS}, "a kind without a route"


def test_the_walk_finds_reads_writes_and_actions():
    found = set(IDS)
    assert {
        "GET /api/v1/bids/{id}/",
        "PATCH /api/v1/bids/{id}/",
        "DELETE /api/v1/bids/{id}/",
        "GET /api/v1/trades/{id}/records/",
        "POST /api/v1/deletion-notices/{id}/acknowledge/",
        "POST /api/v1/webhook-endpoints/{id}/roll-secret/",
        "POST /api/v1/webhook-deliveries/{id}/redeliver/",
        "GET /api/v1/payments/{id}/",
    } <= found
    assert len(OPERATIONS) >= 20


# ---------------------------------------------------------------------------------------------
# Two organisations and A's objects, built once
# ---------------------------------------------------------------------------------------------


def _build() -> dict:
    owner = VerifiedOrganisationFactory()
    payment_services.payment_method_save(organisation_id=owner.pk, payment_method_id="pm_card_visa")
    # a delivered audience bundle (a trade, its records and grants), then a seller who leaves it
    audience_sellers(3)
    trade = bundle_trade(owner, records=2)
    deliver(trade)
    leaving = trade.lines.order_by("pk").first().seller
    account_services.consent_revoke(seller=leaving, grant_id=consent_of(leaving, "location").pk)
    notice = DeletionNotice.objects.get(organisation=owner, status="sent")
    grant = AccessGrant.objects.get(organisation=owner, status="active")
    bid = marketplace_services.bid_place(
        organisation=owner,
        listing_public_id=active_listing(pricing_mode="auction").public_id,
        amount_cents=1500,
    )
    endpoint, _secret = marketplace_services.webhook_endpoint_create(
        organisation=owner, url="http://127.0.0.1:9/hooks", event_types=["*"]
    )
    with transaction.atomic():
        (event,) = marketplace_services.webhook_events_emit(
            "trade.settled", [(owner.pk, {"object": "trade", "id": str(trade.public_id)})]
        )
    delivery = WebhookDelivery.objects.get(event=event, endpoint=endpoint)
    payment = payment_services.payment_authorise(
        reference="isolation:1", organisation_id=owner.pk, amount=1500
    )
    assert payment.status == "authorised", payment.status
    return {
        "owner": owner,
        "stranger": PayingOrganisationFactory(),  # verified, a card
        "objects": {
            "bid": bid,
            "trade": trade,
            "access_grant": grant,
            "deletion_notice": notice,
            "payment": payment,
            "webhook_endpoint": endpoint,
            "webhook_event": event,
            "webhook_delivery": delivery,
        },
        "listing": bid.listing,
    }


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, stripe_sandbox) -> Iterator[dict]:  # noqa: F811
    """A's objects and B, in a transaction rolled back after the module's tests."""
    with (
        django_db_blocker.unblock(),
        override_settings(
            SEGMENT_MIN_SIZE=2,
            STRIPE_API_KEY=API_KEY,
            STRIPE_API_BASE=stripe_sandbox.api_base,
            STRIPE_CONNECT_API_BASE=stripe_sandbox.connect_base,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ),
    ):
        stripe_sandbox.reset()
        outer = transaction.atomic()
        outer._from_testcase = True  # services' durable blocks run inside it, as in a TestCase
        outer.__enter__()
        try:
            yield _build()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "route", "kind", "view"), OPERATIONS, ids=IDS)
def test_another_organisation_gets_404_and_changes_nothing(world, method, route, kind, view):
    stranger = _client(world["stranger"])
    path = _path(route, world["objects"][kind].public_id)
    before = _database()

    response = stranger.generic(
        method, path, _json(BODIES.get((method, kind))), content_type="application/json"
    )

    assert response.status_code == 404, (response.status_code, response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found" and response.json()["instance"] == path
    after = _database()
    changed = [label for label in before if before[label] != after[label]]
    assert not changed, f"{method} {path} by another organisation changed {changed}"


@pytest.mark.parametrize(("method", "route", "kind", "view"), OPERATIONS, ids=IDS)
def test_the_owner_is_answered(world, method, route, kind, view):
    """The same request by A: the object is found and the body is one A may send."""
    owner = _client(world["owner"])
    path = _path(route, world["objects"][kind].public_id)

    response = owner.generic(method, path, _json(BODIES.get((method, kind))), content_type="application/json")

    assert 200 <= response.status_code < 300, (response.status_code, response.content)


def test_listings_are_public_to_every_buyer(world):
    # the listing itself (its reports, POST /listings/{id}/reports/, are open to every buyer too)
    (route,) = [
        route
        for route, collection, view in _object_routes()
        if collection == "listings" and hasattr(view, "get")
    ]
    path = _path(route, world["listing"].public_id)

    as_owner = _client(world["owner"]).get(path)
    as_stranger = _client(world["stranger"]).get(path)

    assert as_owner.status_code == as_stranger.status_code == 200
    assert as_owner.json() == as_stranger.json()
