"""Bids through the buyer API: buy now, sealed auction bids (raise, cancel), audience bundles;
Idempotency-Key (replay, 422 on another body, 409 while in flight); who may bid; clear 4xx errors
for bad input that change nothing; 404 for another organisation's bids."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import BuyerOrganisation, User
from core import services as core_services
from core.models import IdempotencyRecord
from listings.models import Listing
from marketplace import services
from marketplace.models import Bid, BidEvent, Trade
from tests.factories import OrganisationFactory, PayingOrganisationFactory
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import queued  # noqa: F401  (autouse fixture)
from tests.problems import field_of, fields_at_fault

pytestmark = pytest.mark.django_db(transaction=True)

BIDS = "/api/v1/bids/"
AUDIENCE = "/api/v1/audience-bids/"


@pytest.fixture
def buyer(db):
    return PayingOrganisationFactory()


@pytest.fixture
def client(api_client_for, buyer):
    return api_client_for(buyer)


def audience_body(**overrides) -> dict:
    body = {
        "criteria": {"categories": ["demographics", "location"], "purpose": "targeted_advertising"},
        "max_price_cents": 300,
        "max_records": 25,
        "expires_at": (timezone.now() + timedelta(days=2)).isoformat(),
    }
    return {**body, **overrides}


def nothing_written() -> bool:
    return not Bid.objects.exists() and not BidEvent.objects.exists() and not Trade.objects.exists()


# ---------------------------------------------------------------------------------------------
# The happy paths
# ---------------------------------------------------------------------------------------------


def test_buy_now_on_a_fixed_price_listing(client, buyer, queued):  # noqa: F811
    listing = active_listing(pricing_mode="fixed", floor=700)

    response = client.post(BIDS, {"listing": str(listing.public_id)}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    bid = Bid.objects.get()
    trade = Trade.objects.get()
    assert body["id"] == str(bid.public_id) and body["trade"] == str(trade.public_id)
    assert (body["kind"], body["status"], body["amount_cents"]) == ("buy_now", "won", 700)
    assert (body["listing"], body["purpose"], body["licence_days"]) == (
        str(listing.public_id),
        "targeted_advertising",
        30,
    )
    assert (trade.organisation, trade.status, trade.price_per_record_cents) == (buyer, "pending_payment", 700)
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD  # sold once the payment settles
    assert queued["trades_settle"] == [()]


def test_sealed_bid_then_raise_then_cancel_then_bid_again(client, buyer):
    listing = active_listing(floor=1000)

    placed = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1000}, format="json")
    bid_url = f"{BIDS}{placed.json()['id']}/"
    raised = client.patch(bid_url, {"amount_cents": 1250}, format="json")
    fetched = client.get(bid_url)
    cancelled = client.delete(bid_url)
    again = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1100}, format="json")

    assert placed.status_code == 201 and placed.json()["status"] == "open" and placed.json()["trade"] is None
    assert raised.status_code == 200 and raised.json()["amount_cents"] == 1250
    assert fetched.json() == raised.json()
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 201
    first = Bid.objects.get(public_id=placed.json()["id"])
    assert list(first.events.values_list("from_status", "to_status", "amount_cents", "reason")) == [
        ("", "open", 1000, ""),
        ("open", "open", 1250, "raised"),
        ("open", "cancelled", 1250, "cancelled by the buyer"),
    ]
    listed = client.get(BIDS).json()["results"]
    assert [b["id"] for b in listed] == [again.json()["id"], placed.json()["id"]]  # newest first
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE


def _paris(moment) -> str | None:
    """How the API writes a time: ISO 8601 in the site's time zone (Europe/Paris)."""
    return None if moment is None else timezone.localtime(moment).isoformat()


def test_bid_representation_has_every_field_exactly(client, queued):  # noqa: F811
    """Open (auction), won (buy now, with its trade) and audience bids: the POST answer and the
    GET of the same bid are the same 14 fields, each exactly the bid's value."""
    sealed = active_listing(floor=1000)
    fixed = active_listing(pricing_mode="fixed", floor=700)
    posted = [
        client.post(BIDS, {"listing": str(sealed.public_id), "amount_cents": 1000}, format="json"),
        client.post(BIDS, {"listing": str(fixed.public_id)}, format="json"),
        client.post(AUDIENCE, audience_body(), format="json"),
    ]

    bids = list(Bid.objects.select_related("listing", "trade").order_by("pk"))
    assert [b.kind for b in bids] == ["auction", "buy_now", "audience"]
    assert bids[1].trade is not None
    for response, bid in zip(posted, bids, strict=True):
        trade = getattr(bid, "trade", None)
        expected = {
            "id": str(bid.public_id),
            "kind": bid.kind,
            "listing": str(bid.listing.public_id) if bid.listing_id else None,
            "trade": str(trade.public_id) if trade is not None else None,
            "amount_cents": bid.amount_cents,
            "currency": "EUR",
            "purpose": "targeted_advertising",
            "licence_days": bid.licence_days,
            "criteria": bid.criteria,
            "max_records": bid.max_records,
            "expires_at": _paris(bid.expires_at),
            "status": bid.status,
            "status_reason": bid.status_reason,
            "created_at": _paris(bid.created_at),
        }
        assert response.status_code == 201, response.json()
        assert response.json() == expected, bid.kind
        assert client.get(f"{BIDS}{bid.public_id}/").json() == expected, bid.kind
    assert posted[0].json()["status"] == "open" and posted[0].json()["trade"] is None
    assert posted[1].json()["status"] == "won" and posted[1].json()["trade"] is not None
    assert posted[2].json()["listing"] is None and posted[2].json()["max_records"] == 25


def test_a_bid_may_name_one_of_the_listings_purposes(client):
    listing = active_listing(floor=1000)
    Listing.objects.filter(pk=listing.pk).update(purposes_mask=0b11)  # + ad_measurement
    account_services.consent_grant(
        seller=listing.seller, category="demographics", purpose="ad_measurement", window_days=90
    )
    account_services.consent_grant(
        seller=listing.seller, category="location", purpose="ad_measurement", window_days=90
    )

    response = client.post(
        BIDS,
        {"listing": str(listing.public_id), "amount_cents": 1000, "purpose": "ad_measurement"},
        format="json",
    )

    assert response.status_code == 201 and response.json()["purpose"] == "ad_measurement"


def test_audience_bid_is_placed_open_and_queued_for_clearing(client, buyer, queued):  # noqa: F811
    response = client.post(
        AUDIENCE,
        audience_body(criteria={**audience_body()["criteria"], "regions": ["FR-IDF"]}),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    bid = Bid.objects.get()
    assert (body["kind"], body["status"], body["listing"], body["amount_cents"], body["max_records"]) == (
        "audience",
        "open",
        None,
        300,
        25,
    )
    assert body["criteria"]["regions"] == ["FR-IDF"] and body["criteria"]["licence_days"] == 30
    assert (bid.organisation, bid.purpose, bid.licence_days) == (buyer, "targeted_advertising", 30)
    assert queued["audience_bid_clear"] == [(bid.pk,)]


# ---------------------------------------------------------------------------------------------
# Who may bid
# ---------------------------------------------------------------------------------------------


def test_unverified_organisations_get_403_and_change_nothing(api_client_for):
    listing = active_listing(floor=1000)
    client = api_client_for(OrganisationFactory())

    bid = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1500}, format="json")
    audience = client.post(AUDIENCE, audience_body(), format="json")
    own_bids = client.get(BIDS)

    for response in (bid, audience):
        assert response.status_code == 403
        assert response.json() == {
            "type": f"{settings.SITE_URL}/api/problems/organisation_not_verified/",
            "title": "Organisation not verified",
            "status": 403,
            "detail": "Your organisation is not verified yet.",
            "instance": response.wsgi_request.path,
            "code": "organisation_not_verified",
        }
    assert own_bids.status_code == 200 and own_bids.json()["results"] == []  # reading about itself is fine
    assert nothing_written()


def test_withdrawn_verification_stops_raises_but_not_cancelling(api_client_for, buyer):
    client = api_client_for(buyer)
    listing = active_listing(floor=1000)
    bid_id = client.post(
        BIDS, {"listing": str(listing.public_id), "amount_cents": 1000}, format="json"
    ).json()["id"]
    BuyerOrganisation.objects.filter(pk=buyer.pk).update(verification_status="rejected")

    raised = client.patch(f"{BIDS}{bid_id}/", {"amount_cents": 2000}, format="json")
    cancelled = client.delete(f"{BIDS}{bid_id}/")

    assert raised.status_code == 403
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert Bid.objects.get().amount_cents == 1000


def test_missing_wrong_and_revoked_keys_get_401(api_client_for, buyer):
    from rest_framework.test import APIClient

    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 1500}
    revoked = api_client_for(buyer)
    account_services.api_key_revoke(key_id=buyer.api_keys.get().pk)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Api-Key crt_000000000000_nope")

    for client in (APIClient(), wrong, revoked):
        response = client.post(BIDS, body, format="json")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
    assert nothing_written()


# ---------------------------------------------------------------------------------------------
# Bad input: 400 with field errors (malformed), 404, 409, 422 (refused); nothing changes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"listing"}),
        ({"listing": "not-a-uuid", "amount_cents": "ten"}, {"listing", "amount_cents"}),
        ({"listing": "7d0c5e8a-0000-4000-8000-000000000000", "amount_cents": 0}, {"amount_cents"}),
        ({"listing": "7d0c5e8a-0000-4000-8000-000000000000", "amount_cents": 10**12}, {"amount_cents"}),
        ({"listing": "7d0c5e8a-0000-4000-8000-000000000000", "purpose": "spam"}, {"purpose"}),
    ],
)
def test_malformed_bids_get_400_with_field_errors(client, body, fields):
    active_listing(floor=1000)

    response = client.post(BIDS, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and fields_at_fault(response) == fields
    assert nothing_written()


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"criteria": "everyone"}, {"criteria"}),
        ({"criteria": {"categories": ["nope"], "purpose": "targeted_advertising"}}, {"criteria"}),
        ({"criteria": {"categories": [], "purpose": "targeted_advertising"}}, {"criteria"}),
        ({"criteria": {"categories": ["demographics"], "purpose": "x"}}, {"criteria"}),
        (
            {
                "criteria": {
                    "categories": ["demographics"],
                    "purpose": "targeted_advertising",
                    "colour": "red",
                }
            },
            {"criteria"},
        ),
        (
            {"max_price_cents": -1, "max_records": 0, "expires_at": "tomorrow"},
            {"max_price_cents", "max_records", "expires_at"},
        ),
    ],
)
def test_malformed_audience_bids_get_400_with_field_errors(client, overrides, errors):
    response = client.post(AUDIENCE, audience_body(**overrides), format="json")

    assert response.status_code == 400, response.content
    assert fields_at_fault(response) == errors
    assert nothing_written()


def test_malformed_criteria_name_the_criterion_at_fault(client):
    body = audience_body(
        criteria={"categories": ["demographics"], "purpose": "targeted_advertising", "colour": "red"}
    )

    response = client.post(AUDIENCE, body, format="json")

    assert response.json()["errors"] == [
        {"pointer": "/criteria/colour", "code": "invalid", "detail": "Unknown criterion."}
    ]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"max_records": 24}, "max_records_invalid", "max_records"),  # under K = 25: never sold
        ({"expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()}, "expiry_invalid", "expires_at"),
        ({"expires_at": (timezone.now() + timedelta(days=31)).isoformat()}, "expiry_invalid", "expires_at"),
    ],
)
def test_audience_bids_outside_the_rules_get_422(client, overrides, code, field):
    response = client.post(AUDIENCE, audience_body(**overrides), format="json")

    assert response.status_code == 422
    assert (response.json()["code"], field_of(response)) == (code, field)
    assert nothing_written()


def test_refused_listing_bids_get_422_and_change_nothing(client):
    auction = active_listing(floor=1000)
    fixed = active_listing(pricing_mode="fixed", floor=700)
    cases = [
        ({"listing": str(auction.public_id), "amount_cents": 999}, "below_floor"),
        ({"listing": str(auction.public_id)}, "amount_required"),
        ({"listing": str(fixed.public_id), "amount_cents": 500}, "price_mismatch"),
        (
            {"listing": str(auction.public_id), "amount_cents": 1000, "purpose": "market_research"},
            "purpose_not_offered",
        ),
    ]
    for body, code in cases:
        response = client.post(BIDS, body, format="json")
        assert response.status_code == 422, body
        assert response.json()["code"] == code
    assert nothing_written()
    assert Listing.objects.filter(status=Listing.Status.ACTIVE).count() == 2


def test_bids_on_closed_listings_get_409(client, api_client_for):
    sold = active_listing(pricing_mode="fixed", floor=700)
    api_client_for(PayingOrganisationFactory()).post(BIDS, {"listing": str(sold.public_id)}, format="json")
    ended = active_listing(floor=1000)
    open_bid = client.post(
        BIDS, {"listing": str(ended.public_id), "amount_cents": 1000}, format="json"
    ).json()
    Listing.objects.filter(pk=ended.pk).update(auction_ends_at=timezone.now() - timedelta(seconds=1))
    paused = active_listing(floor=1000)
    Listing.objects.filter(pk=paused.pk).update(status=Listing.Status.PAUSED)
    before = list(Bid.objects.values_list("pk", "status", "amount_cents"))

    responses = {
        "sold": client.post(BIDS, {"listing": str(sold.public_id)}, format="json"),
        "ended": client.post(BIDS, {"listing": str(ended.public_id), "amount_cents": 1500}, format="json"),
        "paused": client.post(BIDS, {"listing": str(paused.public_id), "amount_cents": 1500}, format="json"),
        "raise after end": client.patch(f"{BIDS}{open_bid['id']}/", {"amount_cents": 1500}, format="json"),
        "cancel after end": client.delete(f"{BIDS}{open_bid['id']}/"),
    }

    assert {name: (r.status_code, r.json()["code"]) for name, r in responses.items()} == {
        "sold": (409, "listing_not_open"),
        "ended": (409, "auction_closed"),
        "paused": (409, "listing_not_open"),
        "raise after end": (409, "auction_closed"),
        "cancel after end": (409, "auction_closed"),
    }
    assert list(Bid.objects.values_list("pk", "status", "amount_cents")) == before


def test_an_organisation_cannot_bid_on_its_own_members_data(client, buyer):
    listing = active_listing(floor=1000)
    # sellers have no organisation (a database constraint); were one to join as a member...
    User.objects.filter(pk=listing.seller_id).update(role=User.Role.BUYER, organisation=buyer)

    response = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1500}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "own_data")
    assert nothing_written()


def test_one_open_bid_per_organisation_and_listing(client):
    listing = active_listing(floor=1000)
    first = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1000}, format="json")

    second = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 2000}, format="json")
    lower = client.patch(f"{BIDS}{first.json()['id']}/", {"amount_cents": 900}, format="json")
    malformed = client.patch(f"{BIDS}{first.json()['id']}/", {"amount_cents": "lots"}, format="json")

    assert (second.status_code, second.json()["code"]) == (409, "bid_exists")
    assert (lower.status_code, lower.json()["code"], field_of(lower)) == (
        422,
        "raise_too_low",
        "amount_cents",
    )
    assert malformed.status_code == 400 and fields_at_fault(malformed) == {"amount_cents"}
    assert list(Bid.objects.values_list("amount_cents", "status")) == [(1000, "open")]
    assert BidEvent.objects.count() == 1


def test_cancelled_and_won_bids_cannot_change(client):
    listing = active_listing(floor=1000)
    bid_id = client.post(
        BIDS, {"listing": str(listing.public_id), "amount_cents": 1000}, format="json"
    ).json()["id"]
    client.delete(f"{BIDS}{bid_id}/")
    won_id = client.post(
        BIDS, {"listing": str(active_listing(pricing_mode="fixed").public_id)}, format="json"
    ).json()["id"]

    responses = [
        client.delete(f"{BIDS}{bid_id}/"),
        client.patch(f"{BIDS}{bid_id}/", {"amount_cents": 5000}, format="json"),
        client.delete(f"{BIDS}{won_id}/"),
    ]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "bid_not_open")] * 3
    assert Bid.objects.get(public_id=won_id).status == "won"
    assert Bid.objects.get(public_id=bid_id).amount_cents == 1000


def test_foreign_and_unknown_ids_get_404(client, api_client_for):
    other = api_client_for(PayingOrganisationFactory())
    listing = active_listing(floor=1000)
    theirs = other.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1300}, format="json").json()
    unknown = "7d0c5e8a-0000-4000-8000-000000000000"

    responses = [
        client.post(BIDS, {"listing": unknown, "amount_cents": 1000}, format="json"),
        client.get(f"{BIDS}{theirs['id']}/"),
        client.patch(f"{BIDS}{theirs['id']}/", {"amount_cents": 5000}, format="json"),
        client.delete(f"{BIDS}{theirs['id']}/"),
        client.get(f"{BIDS}{unknown}/"),
        client.delete(f"{BIDS}{unknown}/"),
    ]

    assert [r.status_code for r in responses] == [404] * 6
    assert responses[0].json()["code"] == "not_found"
    assert Bid.objects.get(public_id=theirs["id"]).amount_cents == 1300
    assert Bid.objects.get(public_id=theirs["id"]).status == "open"
    assert client.get(BIDS).json()["results"] == []


# ---------------------------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------------------------


def fingerprint(path: str, body: dict, method: str = "POST") -> str:
    """What core.idempotency stores for a request: method, path and canonical body."""
    canonical = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def test_same_key_and_body_replays_the_same_response(client):
    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 1200}

    first = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    second = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Bid.objects.count() == 1 and BidEvent.objects.count() == 1


def test_the_key_and_its_answer_are_stored_with_synchronous_commits(client):
    """The claim and the stored answer are two writes to the key's row, and neither is committed
    asynchronously: a client told its answer is stored can count on it after a crash."""
    warm, first, listing = (active_listing(floor=1000) for _ in range(3))
    body = {"listing": str(listing.public_id), "amount_cents": 1200}
    client.post(BIDS, {**body, "listing": str(warm.public_id)}, format="json")  # API key's last use

    with CaptureQueriesContext(connection) as without_key:
        client.post(BIDS, {**body, "listing": str(first.public_id)}, format="json")
    with CaptureQueriesContext(connection) as with_key:
        response = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-sync")

    assert response.status_code == 201
    writes = [
        q["sql"]
        for q in with_key.captured_queries
        if "idempotencyrecord" in q["sql"] and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert len(writes) == 2, writes
    assert not [q for q in with_key.captured_queries if "synchronous_commit" in q["sql"]]
    assert len(without_key) < len(with_key)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    record = IdempotencyRecord.objects.get(key="order-sync")
    assert record.response_status == 201 and record.response_body == response.json()


def test_same_key_with_another_body_or_endpoint_gets_422(client):
    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 1200}
    first = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    other_body = client.post(
        BIDS, {**body, "amount_cents": 1300}, format="json", HTTP_IDEMPOTENCY_KEY="order-1"
    )
    other_endpoint = client.post(AUDIENCE, audience_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    for response in (other_body, other_endpoint):
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
    assert list(Bid.objects.values_list("public_id", "amount_cents")) == [(Bid.objects.get().public_id, 1200)]
    assert str(Bid.objects.get().public_id) == first.json()["id"]


def test_keys_belong_to_one_organisation(client, api_client_for):
    listing = active_listing(floor=1000)
    other = api_client_for(PayingOrganisationFactory())

    mine = client.post(
        BIDS,
        {"listing": str(listing.public_id), "amount_cents": 1200},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    theirs = other.post(
        BIDS,
        {"listing": str(listing.public_id), "amount_cents": 1500},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert mine.status_code == theirs.status_code == 201
    assert Bid.objects.count() == 2


def test_refusals_are_replayed_too(client):
    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 999}

    first = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="low")
    second = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="low")

    assert first.status_code == second.status_code == 422
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert nothing_written()


def test_same_key_while_the_first_request_is_in_flight_gets_409(client, buyer, api_client_for, monkeypatch):
    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 1200}
    inside, release = threading.Event(), threading.Event()
    real_bid_place = services.bid_place

    def slow_bid_place(**kwargs):
        inside.set()
        assert release.wait(20)
        return real_bid_place(**kwargs)

    monkeypatch.setattr(services, "bid_place", slow_bid_place)
    results = {}

    def first_request():
        try:
            results["first"] = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert inside.wait(20)
        second_client = api_client_for(buyer)  # another key of the same organisation
        concurrent = second_client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")
        bids_while_in_flight = Bid.objects.count()
    finally:
        release.set()
        thread.join()
    after = second_client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")

    assert concurrent.status_code == 409
    assert concurrent.json()["code"] == "idempotency_key_in_flight"
    assert bids_while_in_flight == 0
    assert results["first"].status_code == 201
    assert after.status_code == 201 and after.json() == results["first"].json()
    assert Bid.objects.count() == 1


def test_an_in_flight_record_answers_409_until_it_goes_stale(client, buyer):
    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 1200}
    record = IdempotencyRecord.objects.create(
        organisation=buyer, key="crashed", method_path=f"POST {BIDS}", request_hash=fingerprint(BIDS, body)
    )

    in_flight = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="crashed")
    assert in_flight.status_code == 409 and not Bid.objects.exists()

    # the worker that claimed it died: after IDEMPOTENCY_IN_FLIGHT_SECONDS a retry takes over
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    retried = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="crashed")

    assert retried.status_code == 201
    record.refresh_from_db()
    assert record.response_status == 201 and record.response_body == retried.json()
    assert Bid.objects.count() == 1


def test_a_server_error_releases_the_key(client, monkeypatch):
    listing = active_listing(floor=1000)
    body = {"listing": str(listing.public_id), "amount_cents": 1200}

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "bid_place", broken)
    failed = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert (failed.status_code, failed.json()["code"]) == (500, "server_error")  # logged, not leaked
    assert "database went away" not in failed.content.decode()
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()

    retried = client.post(BIDS, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")

    assert retried.status_code == 201 and Bid.objects.count() == 1


def test_raises_honour_the_key_too(client):
    listing = active_listing(floor=1000)
    bid_id = client.post(
        BIDS, {"listing": str(listing.public_id), "amount_cents": 1000}, format="json"
    ).json()["id"]

    first = client.patch(
        f"{BIDS}{bid_id}/", {"amount_cents": 1500}, format="json", HTTP_IDEMPOTENCY_KEY="raise-1"
    )
    again = client.patch(
        f"{BIDS}{bid_id}/", {"amount_cents": 1500}, format="json", HTTP_IDEMPOTENCY_KEY="raise-1"
    )

    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert BidEvent.objects.filter(reason="raised").count() == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_unusable_keys_get_400(client, key):
    listing = active_listing(floor=1000)

    response = client.post(
        BIDS,
        {"listing": str(listing.public_id), "amount_cents": 1200},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )

    assert response.status_code == 400 and response.json()["code"] == "idempotency_key_invalid"
    assert nothing_written()


def test_old_idempotency_keys_are_purged(buyer):
    old = IdempotencyRecord.objects.create(
        organisation=buyer, key="old", method_path=f"POST {BIDS}", request_hash="h", response_status=201
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    recent = IdempotencyRecord.objects.create(
        organisation=buyer, key="recent", method_path="x", request_hash="h"
    )

    assert core_services.idempotency_records_purge() == 1

    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_sealed_bid_reads_only_what_it_checks(client):
    """Given a paying buyer whose API key was just used, when it places a sealed bid, then the
    request runs at most six statements (the key, the locked listing with the buyer's payment
    method and the seller's valid consents, the bid, its event, and the transaction's begin and
    commit): no separate payment-method or consent query and no lookup of a trade the open bid
    cannot have."""
    warm, listing = active_listing(floor=1000), active_listing(floor=1000)
    client.post(BIDS, {"listing": str(warm.public_id), "amount_cents": 1200}, format="json")

    with CaptureQueriesContext(connection) as captured:
        response = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1200}, format="json")

    assert response.status_code == 201 and response.json()["trade"] is None
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) <= 6, statements
    assert not [s for s in statements if s.lstrip().startswith('SELECT "accounts_consentgrant"')]
    assert not [s for s in statements if "marketplace_trade" in s], statements
    assert not [
        s for s in statements if s.lstrip().startswith('SELECT 1 AS "a" FROM "payments_stripecustomer"')
    ]
