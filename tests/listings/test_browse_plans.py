"""Browsing scales with the page, not with the listings: for every ordering and the filters the API
offers, PostgreSQL walks a partial index of active listings in the page's order and stops at
the page size (no sort of every matching listing). PostgreSQL only: plans are its own.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from listings import selectors
from listings.api.views import ORDERINGS
from listings.models import Listing
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db

QUERIES = [
    ({}, "newest"),
    ({}, "oldest"),
    ({}, "price"),
    ({}, "-price"),
    ({"region": "FR-IDF"}, "newest"),
    ({"region": "FR-IDF"}, "price"),
    ({"category": "location", "pricing_mode": "fixed"}, "newest"),
    ({"purpose": "targeted_advertising", "age_band": "35-44"}, "-price"),
]


@pytest.fixture
def many_listings():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL plans")
    sellers = [make_seller(region=region) for region in ("FR-IDF", "FR-BRE", "FR-ARA", "FR-IDF")]
    now = timezone.now()
    Listing.objects.bulk_create(
        Listing(
            seller=sellers[n % len(sellers)],
            categories_mask=3,  # demographics, location
            purposes_mask=1,
            licence_days=30,
            pricing_mode="fixed",
            floor_price_cents=100 + n % 997,
            status=Listing.Status.ACTIVE if n % 10 else Listing.Status.SOLD,
            created_at=now - timezone.timedelta(seconds=n),
        )
        for n in range(4000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE listings_listing, accounts_sellerprofile, accounts_user")


@pytest.mark.parametrize(("filters", "ordering"), QUERIES)
def test_a_page_walks_an_index_in_order_and_stops(many_listings, filters, ordering):
    page = selectors.listing_filter(selectors.listings_for_buyers(), **filters).order_by(*ORDERINGS[ordering])
    plan = page[:51].explain()

    assert "listing_active_" in plan, plan
    assert "Sort" not in plan, plan
