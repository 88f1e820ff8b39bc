"""The buyer API over listings and segments: filters, cursor pages, privacy, clear 4xx errors."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from listings import selectors, services
from listings.models import Listing
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db(transaction=True)


def active_listing(moderator, price=250, **seller_profile) -> Listing:
    seller = make_seller(**seller_profile)
    listing = services.listing_create(
        seller=seller,
        categories=["demographics", "location"],
        purposes=["targeted_advertising"],
        licence_days=90,
        pricing_mode="fixed",
        floor_price_cents=price,
    )
    return services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)


@pytest.fixture
def buyer_api(api_client_for, verified_organisation):
    return api_client_for(verified_organisation)


def test_browse_shows_terms_and_coarse_attributes_only(buyer_api, moderator):
    listing = active_listing(moderator)
    seller = listing.seller

    response = buyer_api.get("/api/v1/listings/")

    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["id"] == str(listing.public_id)
    assert item["categories"] == ["demographics", "location"] and item["floor_price_cents"] == 250
    assert item["attributes"] == {"age_band": "35-44", "gender": "female", "region": "FR-IDF"}
    body = response.content.decode()
    for secret in (seller.email, str(seller.pseudonym), "75011", "1990-01-01", f'"id": {listing.pk}'):
        assert secret not in body
    assert "mobile_os" not in item["attributes"]  # device is not sold by this listing


def test_filters_ordering_and_cursor_pages(buyer_api, moderator):
    for price in (100, 300, 200):
        active_listing(moderator, price=price)
    prices = [
        i["floor_price_cents"] for i in buyer_api.get("/api/v1/listings/?ordering=price").json()["results"]
    ]
    assert prices == [100, 200, 300]
    page = buyer_api.get("/api/v1/listings/?ordering=-price&page_size=2").json()
    assert [i["floor_price_cents"] for i in page["results"]] == [300, 200] and page["next"]
    rest = buyer_api.get(page["next"]).json()
    assert [i["floor_price_cents"] for i in rest["results"]] == [100]
    cheap = buyer_api.get("/api/v1/listings/?max_price_cents=150&category=location&region=FR-IDF").json()
    assert [i["floor_price_cents"] for i in cheap["results"]] == [100]
    assert buyer_api.get("/api/v1/listings/?mobile_os=android").json()["results"] == []


def test_pages_hold_20_listings_unless_page_size_says_otherwise(buyer_api, moderator):
    for _ in range(21):
        active_listing(moderator)

    first = buyer_api.get("/api/v1/listings/").json()
    rest = buyer_api.get(first["next"]).json()
    everything = buyer_api.get("/api/v1/listings/?page_size=200").json()

    assert (len(first["results"]), len(rest["results"]), rest["next"]) == (20, 1, None)
    assert len(everything["results"]) == 21 and everything["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        "min_price_cents=-1",
        "region=",
        "page_size=0",
        "page_size=ten",
        "category=shoe_size",
        "ordering=random",
        "region=XX",
    ],
)
def test_bad_filters_are_400_with_field_errors(buyer_api, query):
    response = buyer_api.get(f"/api/v1/listings/?{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid" and response.json()["errors"]


def test_a_price_range_upside_down_matches_nothing(buyer_api, moderator):
    # valid values each (the schema cannot relate two parameters): an empty page, not a 400
    active_listing(moderator)
    response = buyer_api.get("/api/v1/listings/?min_price_cents=500&max_price_cents=100")
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize(
    "query",  # bench/api.py's browsing mix
    ["", "?ordering=price", "?region=FR-IDF", "?category=location&pricing_mode=fixed", "?page_size=20"],
)
def test_browse_query_count_is_constant(buyer_api, moderator, query):
    active_listing(moderator)
    buyer_api.get("/api/v1/listings/")  # the key's last-use stamp is written at most once a minute
    with CaptureQueriesContext(connection) as few:
        assert len(buyer_api.get(f"/api/v1/listings/{query}").json()["results"]) == 1
    for _ in range(5):
        active_listing(moderator)
    with CaptureQueriesContext(connection) as many:
        assert len(buyer_api.get(f"/api/v1/listings/{query}").json()["results"]) == 6
    assert len(many.captured_queries) == len(few.captured_queries) == 2


def test_sizing_query_count_is_constant_and_the_estimate_is_cached(buyer_api, moderator, settings):
    settings.SEGMENT_MIN_SIZE = 2
    settings.SEGMENT_ESTIMATE_CACHE_SECONDS = 60
    # a brief no other test sizes, and a fresh cache entry for it
    body = {"categories": ["location"], "purpose": "targeted_advertising", "regions": ["FR-NOR"]}
    for price in (100, 300):
        active_listing(moderator, price=price, region="FR-NOR")
    criteria = selectors.SegmentCriteria(**body)
    cache.delete(selectors.segment_estimate_cache_key(criteria))
    buyer_api.post("/api/v1/segments/size/", body, format="json")  # key stamp; fills the estimate
    with CaptureQueriesContext(connection) as cached:
        first = buyer_api.post("/api/v1/segments/size/", body, format="json").json()
    for price in (10_000, 20_000, 30_000):
        active_listing(moderator, price=price, region="FR-NOR")
    with CaptureQueriesContext(connection) as more:
        second = buyer_api.post("/api/v1/segments/size/", body, format="json").json()

    assert len(cached.captured_queries) == len(more.captured_queries) == 2  # the key, the count
    assert (first["count"], second["count"]) == (2, 5)  # the count is always read now
    assert second["price_estimate"] == first["price_estimate"]  # the estimate may be a minute old
    assert selectors.segment_price_estimate(criteria)["p50_cents"] == 10_000


def test_segment_size_endpoint_and_its_errors(buyer_api):
    body = {"categories": ["demographics"], "purpose": "targeted_advertising", "regions": ["FR-IDF"]}
    response = buyer_api.post("/api/v1/segments/size/", body, format="json")
    assert response.status_code == 200
    assert response.json()["count"] is None and response.json()["fewer_than"] == 25
    assert set(response.json()["price_estimate"]) >= {"p25_cents", "p50_cents", "p75_cents", "source"}

    for bad in (
        {**body, "shoe_size": [42]},
        {**body, "regions": ["FR-XXX"]},
        {**body, "categories": []},
        {**body, "purpose": "resale"},
        {**body, "interests": ["knitting"]},
    ):
        response = buyer_api.post("/api/v1/segments/size/", bad, format="json")
        assert response.status_code == 400, bad
        assert response.json()["errors"], bad


def test_sizing_is_rate_limited_per_organisation(buyer_api, settings, verified_organisation, api_client_for):
    settings.SEGMENT_SIZING_RATE = "3/min"
    settings.API_RATE_LIMIT_KEY_PREFIX = f"ratelimit-test:{uuid.uuid4()}"  # a fresh window
    body = {"categories": ["demographics"], "purpose": "targeted_advertising"}
    responses = [buyer_api.post("/api/v1/segments/size/", body, format="json") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[3].json()["code"] == "rate_limited"
    assert '"segment-sizing";r=0;' in responses[3]["RateLimit"]
    second_key = api_client_for(verified_organisation)  # same organisation, another key: same budget
    assert second_key.post("/api/v1/segments/size/", body, format="json").status_code == 429


def test_unknown_listing_is_404_and_unauthenticated_is_refused(buyer_api, client):
    assert buyer_api.get("/api/v1/listings/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/api/v1/listings/").status_code in (401, 403)
    assert User.objects.filter(role="seller").count() == 0
