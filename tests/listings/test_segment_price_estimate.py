"""Segment price estimates: quartiles of the floor prices of the segment's active listings that
cover the wanted categories and purpose, or the valuation model below K such listings.

Not transactional, so that the SQLite job of `.ci/run` ("sqlite twins") runs it as well: on
PostgreSQL the quartiles are one `percentile_cont` aggregate, elsewhere they are computed in
Python, and both must give these figures.
"""

from __future__ import annotations

import pytest

from listings import selectors
from listings.models import Listing
from listings.selectors import SegmentCriteria
from listings.valuation import category_valuation
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing

pytestmark = pytest.mark.django_db

CRITERIA = SegmentCriteria(
    categories=["demographics", "location"], purpose="targeted_advertising", regions=["FR-IDF"]
)


@pytest.fixture(autouse=True)
def k_of_four(settings):
    settings.SEGMENT_MIN_SIZE = 4


def test_quartiles_interpolate_between_the_segments_floor_prices():
    for floor in (1000, 250, 300, 100):
        active_listing(floor=floor)
    active_listing(floor=99_999, seller=make_seller(region="FR-BRE"))  # outside the segment
    paused = active_listing(floor=50_000)
    Listing.objects.filter(pk=paused.pk).update(status=Listing.Status.PAUSED)  # not offered

    estimate = selectors.segment_price_estimate(CRITERIA)

    # floors 100, 250, 300, 1000: positions 0.75, 1.5 and 2.25 between them
    assert estimate == {
        "currency": "EUR",
        "p25_cents": 212,  # 100 + 150 × 0.75 = 212.5, rounded half to even
        "p50_cents": 275,
        "p75_cents": 475,
        "source": "active_listings",
    }


def test_one_listing_is_its_own_quartiles(settings):
    settings.SEGMENT_MIN_SIZE = 1
    active_listing(floor=640)

    estimate = selectors.segment_price_estimate(CRITERIA)

    assert (estimate["p25_cents"], estimate["p50_cents"], estimate["p75_cents"]) == (640, 640, 640)
    assert estimate["source"] == "active_listings"


def test_below_k_listings_the_valuation_model_answers():
    for floor in (1000, 250, 300):
        active_listing(floor=floor)

    estimate = selectors.segment_price_estimate(CRITERIA)

    modelled = [category_valuation(c, licence_days=30) for c in CRITERIA.categories]
    assert estimate == {
        "currency": "EUR",
        "p25_cents": sum(e["low_cents"] for e in modelled),
        "p50_cents": sum(e["estimate_cents"] for e in modelled),
        "p75_cents": sum(e["high_cents"] for e in modelled),
        "source": "valuation_model",
    }
