"""What is my data worth: base rate × scarcity, blended with recent clearing prices, explained."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from listings import valuation
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_stats():
    cache.clear()
    yield
    cache.clear()


def test_rarer_attribute_values_are_worth_more():
    common = [make_seller(region="FR-IDF") for _ in range(4)][0]
    rare = make_seller(region="FR-20R")

    common_value = valuation.seller_valuation(seller=common, categories=["location"])
    rare_value = valuation.seller_valuation(seller=rare, categories=["location"])

    assert rare_value["total"]["estimate_cents"] > common_value["total"]["estimate_cents"]
    factors = rare_value["categories"][0]["factors"]
    assert factors["base_rate_cents"] == valuation.BASE_RATE_CENTS["location"]
    assert "20%" in factors["scarcity_explained"] and factors["median_clearing_price_cents_30d"] is None
    low, estimate, high = (rare_value["total"][k] for k in ("low_cents", "estimate_cents", "high_cents"))
    assert low < estimate < high and all(isinstance(v, int) for v in (low, estimate, high))
    assert rare_value["yearly_income_cents"] > estimate


def test_clearing_prices_are_blended_in_once_trades_exist():
    seller = make_seller()
    before = valuation.seller_valuation(seller=seller, categories=["device"])["total"]["estimate_cents"]
    provider = lambda category, window: [1000, 1200, 5000] if category == "device" else []  # noqa: E731
    valuation.register_clearing_price_provider(provider)
    try:
        after = valuation.seller_valuation(seller=seller, categories=["device"])
    finally:
        valuation._clearing_prices.remove(provider)
    item = after["categories"][0]
    assert (
        item["factors"]["median_clearing_price_cents_30d"] == 1200 and item["factors"]["trades_in_30d"] == 3
    )
    assert item["estimate_cents"] == round((before + 1200) / 2)


def test_longer_licences_cost_more_and_the_json_endpoint_answers(client):
    seller = make_seller()
    client.force_login(seller)

    month = client.get("/valuation.json").json()
    year = client.get("/valuation.json?licence_days=365&category=demographics").json()

    assert len(month["categories"]) == 7 and [c["category"] for c in year["categories"]] == ["demographics"]
    assert year["categories"][0]["estimate_cents"] > month["categories"][0]["estimate_cents"]
    assert "scarcity" in month["explanation"]
    bad = client.get("/valuation.json?licence_days=7")
    assert bad.status_code == 400 and bad.json()["field"] == "licence_days"
    assert client.get("/valuation.json?category=shoe_size").status_code == 400


def test_the_price_suggestion_follows_the_purposes_like_the_simulator(client):
    """The new-listing page and the worth simulator give the same estimate for the same terms."""
    seller = make_seller()
    client.force_login(seller)
    terms = "licence_days=30&category=demographics"

    measurement = client.get(f"/valuation.json?{terms}&purpose=audience_measurement").json()["total"]
    targeted = client.get(f"/valuation.json?{terms}&purpose=targeted_advertising").json()["total"]
    expected = valuation.seller_valuation(
        seller=seller, categories=["demographics"], purposes=["targeted_advertising"], licence_days=30
    )["total"]

    assert targeted["estimate_cents"] == expected["estimate_cents"]
    assert measurement["estimate_cents"] != targeted["estimate_cents"]
    bad = client.get(f"/valuation.json?{terms}&purpose=mind_reading")
    assert bad.status_code == 400 and bad.json()["code"] == "purpose_unknown"
