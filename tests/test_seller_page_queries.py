"""Each seller page runs the same number of queries for a seller with 10 trades as for one with
1,000, and never more than 15 (issue 13; `make bench-pages` measures the same pages' time).

Both histories are built set-based (tests/marketplace/seller_history.py): a handful of bulk
inserts whatever the number of trades.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.marketplace.seller_history import seller_with_sales

pytestmark = pytest.mark.django_db

# The dashboard (`/` logged in), consents, who bought my data, earnings and payouts, worth.
SELLER_PAGES = ("seller-dashboard", "seller-consents", "seller-sales", "seller-payouts", "seller-worth")
MAX_QUERIES = 15


def _queries(client, seller, name: str) -> int:
    client.force_login(seller)
    client.get(reverse(name))  # warm: the session row, per-process caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(name))
    assert response.status_code == 200, (name, response.status_code)
    return len(captured)


def test_seller_pages_query_count_does_not_grow_with_trades(client):
    few, buyers = seller_with_sales(10)
    many, _ = seller_with_sales(1_000, buyers=buyers)

    counts = {name: (_queries(client, few, name), _queries(client, many, name)) for name in SELLER_PAGES}

    grows = {name: c for name, c in counts.items() if c[0] != c[1]}
    over = {name: c for name, c in counts.items() if max(c) > MAX_QUERIES}
    assert not grows, f"query count grows with trades (10 vs 1,000): {grows}"
    assert not over, f"more than {MAX_QUERIES} queries: {over}"


def test_clearing_prices_of_every_category_in_one_query_match_the_per_category_reads():
    from datetime import timedelta

    from accounts import taxonomy
    from marketplace import selectors

    seller_with_sales(40)  # 30 of them settled in the last 30 days, two category masks
    window, categories = timedelta(days=30), list(taxonomy.CATEGORY_CODES)

    with CaptureQueriesContext(connection) as captured:
        many = selectors.clearing_prices_many(categories, window)

    assert len(captured) == 1
    assert many == {category: selectors.clearing_prices(category, window) for category in categories}
    assert len(many["demographics"]) == 30 and len(many["location"]) == 15 and not many["device"]
