"""The admin's market dashboard (/admin/market/, marketplace/views_market.py) and its reads
(marketplace/selectors_market.py): right figures, staff only, a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace import selectors_market
from tests.marketplace.seller_history import seller_with_sales

pytestmark = pytest.mark.django_db

CHARTS = (
    "market-trades",
    "market-value",
    "market-prices",
    "market-payouts",
    "market-consents-granted",
    "market-consents-withdrawn",
    "market-revocations",
    "market-notices",
)


def test_the_overview_adds_up_the_last_30_days():
    seller_with_sales(3)  # 150 cents each, a day apart; two buyers, each a notice sent and one overdue

    overview = selectors_market.market_overview()

    assert len(overview.trades.days) == 30
    assert sum(overview.trades.values["trades"]) == 3
    assert sum(overview.trades.values["value"]) == 450
    # lines alternate demographics + location, demographics alone: all at 150 cents a record
    assert overview.clearing_prices == {"demographics": (150, 3), "location": (150, 2)}
    assert (overview.notices_outstanding, overview.notices_overdue) == (2, 2)
    assert sum(overview.payouts.values["amount"]) == 0
    assert overview.active_consents >= 1  # the seller's consents behind the listing


def test_trades_older_than_the_window_are_left_out():
    seller_with_sales(35)

    assert sum(selectors_market.market_overview().trades.values["trades"]) in (29, 30)  # midnight


def test_the_dashboard_draws_every_chart_with_data(moderator_client):
    seller_with_sales(3)

    page = moderator_client.get("/admin/market/")

    assert page.status_code == 200
    html = page.content.decode()
    for slug in CHARTS:
        assert f'data-chart="{slug}"' in html, slug
    assert "€4.50" in html  # value traded over 30 days
    assert "Demographics" in html and "demographics" not in html.replace('"chart-', "")
    assert "Courtier" in html


def test_the_dashboard_renders_an_empty_market(moderator_client):
    page = moderator_client.get("/admin/market/")

    assert page.status_code == 200
    html = page.content.decode()
    for slug in CHARTS:
        assert f'data-chart="{slug}"' in html, slug
    assert "€0.00" in html


def test_the_dashboard_is_for_staff_only(client, seller):
    assert client.get("/admin/market/").status_code == 302
    client.force_login(seller)
    page = client.get("/admin/market/")
    assert page.status_code == 302 and "/admin/login/" in page["Location"]


def _queries_of_the_dashboard(moderator_client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert moderator_client.get("/admin/market/").status_code == 200
    return len(queries)


def test_the_dashboard_costs_the_same_queries_whatever_the_trades(moderator_client):
    seller_with_sales(2)
    few = _queries_of_the_dashboard(moderator_client)

    seller_with_sales(60)
    many = _queries_of_the_dashboard(moderator_client)

    assert few == many
    with CaptureQueriesContext(connection) as queries:
        selectors_market.market_overview()
    assert len(queries) == 7
