"""What is my data worth: the simulator page and its htmx partial, in English and French.

The estimate follows the choices (categories, purposes, licence, consent window); beside it, what
buyers paid in the last 30 days comes from settled trades (settled through the Stripe sandbox, as
tests/marketplace/settlement does); bad input is a form error, never a 500; the query count does
not grow with the number of trades.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import taxonomy
from listings.selectors import percentiles
from listings.valuation import seller_valuation
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from marketplace.models import Trade
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.marketplace.settlement.conftest import settle_trade
from tests.payments.conftest import (  # noqa: F401  (fixtures: settled trades go through the sandbox)
    buyer,
    stripe_sandbox,
    stripe_settings,
)

FR = {"Accept-Language": "fr-FR,fr;q=0.9"}
PAGE, PARTIAL = "seller-worth", "seller-worth-estimate"


@pytest.fixture(autouse=True)
def eager_celery():
    """As in the settlement tests: the test drives settlement itself."""
    yield


@pytest.fixture
def seller(db):
    cache.clear()  # scarcity shares are cached ten minutes
    return make_seller()


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def euros(cents: int) -> str:
    return f"€{cents // 100:,}.{cents % 100:02d}"


# --- The page and the partial, in English and French --------------------------------------


def test_the_page_loads_htmx_from_our_static_files_and_no_inline_script(seller_client):
    content = seller_client.get(reverse(PAGE)).content.decode()

    assert re.search(r'<script src="/static/vendor/htmx/htmx\.min\.js[^"]*" defer></script>', content)
    assert not re.search(r"<script(?![^>]*\bsrc=)", content) and "<style" not in content
    assert f'hx-get="{reverse(PARTIAL)}"' in content and 'hx-target="#worth-estimate"' in content
    assert 'action="/worth/"' in content.replace(reverse(PAGE), "/worth/")  # works without JS
    for name in ("categories", "purposes", "licence_days", "consent_window_days"):
        assert f'name="{name}"' in content


def test_page_and_partial_in_english(seller_client, seller):
    page = seller_client.get(reverse(PAGE)).content.decode()
    partial = seller_client.get(reverse(PARTIAL), {"categories": ["location"]})

    assert "What my data is worth" in page and "Targeted advertising" in page and "Consent window" in page
    assert "What buyers paid in the last 30 days" in page
    assert "€1,500 to €7,000 a year" in page
    body = partial.content.decode()
    assert "<html" not in body and "<form" not in body
    assert (
        partial.context["rows"][0]["label"] == "Location (region, postcode)"
        and len(partial.context["rows"]) == 1
    )
    assert "No trades yet" in body and "0 trades" in body
    # the new figures for the page's status region, swapped out of band
    assert re.search(r'<p id="worth-announce" hx-swap-oob="innerHTML">Estimate €[\d.]+ per record', body)
    assert 'id="worth-announce" class="visually-hidden" role="status"></p>' in page


def test_page_and_partial_in_french(seller_client, seller):
    page = seller_client.get(reverse(PAGE), headers=FR).content.decode()
    partial = seller_client.get(reverse(PARTIAL), {"categories": ["location"]}, headers=FR).content.decode()

    assert '<html lang="fr">' in page and "Ce que valent mes données" in page
    assert "Publicité ciblée" in page and "Fenêtre de consentement" in page
    assert "1\xa0500\xa0€ à 7\xa0000\xa0€ par an" in page
    assert "Ce que les acheteurs ont payé ces 30 derniers jours" in partial
    assert "Localisation" in partial and "Aucune vente pour l’instant" in partial and "0 vente" in partial
    assert "What buyers paid" not in partial
    purposes = {"purposes": ["targeted_advertising", "market_research"], "licence_days": "90"}
    factors = seller_client.get(reverse(PARTIAL), purposes, headers=FR).content.decode()
    assert "× 2,4 pour une licence de 90 jours × 1,4 pour les finalités" in factors
    assert (
        "Publicité ciblée ×1,2, Études de marché ×0,9 ; +0,2 pour chaque finalité supplémentaire" in factors
    )
    estimate = seller_valuation(seller=seller, categories=["location"])["total"]["estimate_cents"]
    assert f"{estimate // 100},{estimate % 100:02d}\xa0€" in partial


# --- The estimate follows the choices ------------------------------------------------------


def estimate_of(client, **choices) -> dict:
    context = client.get(reverse(PARTIAL), choices).context
    return {"total": context["total"]["estimate"], "yearly": context["yearly_income"], "context": context}


def test_the_estimate_changes_with_every_choice(seller_client, seller):
    base = {"categories": ["location"], "licence_days": 30, "consent_window_days": 365}
    one = estimate_of(seller_client, **base)
    two = estimate_of(seller_client, **{**base, "categories": ["location", "life_events"]})
    ads = estimate_of(seller_client, **base, purposes=["targeted_advertising"])
    counting = estimate_of(seller_client, **base, purposes=["audience_measurement"])
    both = estimate_of(seller_client, **base, purposes=["targeted_advertising", "audience_measurement"])
    year = estimate_of(seller_client, **{**base, "licence_days": 365})
    short = estimate_of(seller_client, **{**base, "consent_window_days": 90})

    expected = seller_valuation(seller=seller, categories=["location"], purposes=["targeted_advertising"])
    assert ads["total"] == euros(expected["total"]["estimate_cents"])
    assert ads["yearly"] == euros(expected["yearly_income_cents"])
    assert (
        len({one["total"], two["total"], ads["total"], counting["total"], both["total"], year["total"]}) == 6
    )
    # a shorter consent window sells fewer licences a year, each at the same price
    assert short["total"] == one["total"] and short["yearly"] != one["yearly"]
    assert short["context"]["licences_per_year"] == "1.5"  # 90 days / 30 × 0.5 sold per period
    assert one["context"]["licences_per_year"] == "6.08"
    # the factors explained: 1.2 for ads, +0.2 for the second purpose, ×7 for a year
    assert both["context"]["purpose_multiplier"] == "1.4" and year["context"]["licence_multiplier"] == "7"
    body = seller_client.get(
        reverse(PARTIAL), {**base, "purposes": ["targeted_advertising"]}
    ).content.decode()
    assert "× 1.2 for the purposes" in body and "Targeted advertising ×1.2" in body


@pytest.mark.parametrize(
    "bad",
    [
        {"licence_days": "7"},
        {"consent_window_days": "forever"},
        {"categories": ["shoe_size"]},
        {"purposes": ["mind_reading"]},
    ],
)
@pytest.mark.parametrize("name", [PAGE, PARTIAL])
def test_bad_input_is_a_form_error_with_the_defaults(seller_client, seller, name, bad):
    response = seller_client.get(reverse(name), bad)

    assert response.status_code == 200
    assert set(response.context["form"].errors) == set(bad)
    assert 'role="alert"' in response.content.decode()
    default = seller_valuation(seller=seller)["total"]["estimate_cents"]
    assert response.context["total"]["estimate"] == euros(default)
    assert response.context["licence_days"] == 30


def test_query_guard(seller_client, django_assert_max_num_queries):
    seller_client.get(reverse(PARTIAL))  # the scarcity shares, cached ten minutes
    # session, user, profile, life events, the 30-day clearing price of each of the 7
    # categories (listings.valuation), and what buyers paid for all of them (one query)
    for name in (PAGE, PARTIAL):
        with django_assert_max_num_queries(12):
            assert seller_client.get(reverse(name)).status_code == 200


def test_only_sellers_see_it(client, db):
    assert client.get(reverse(PARTIAL)).status_code == 302  # to the login page


# --- What buyers paid: settled trades only, one query -----------------------------------------


def sell(buyer, floor: int, *, settle: bool = True) -> Trade:  # noqa: F811
    listing = active_listing(pricing_mode="fixed", floor=floor)  # demographics + location
    bid = marketplace_services.bid_place(organisation=buyer, listing_public_id=listing.public_id)
    trade = Trade.objects.get(bid=bid)
    if settle:
        assert settle_trade(trade.pk) == Trade.Status.SETTLED
    return trade


def market_queries(client) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(reverse(PARTIAL), {"categories": ["location", "device"]}).status_code == 200
    return len(context)


@pytest.mark.django_db(transaction=True)
def test_market_figures_come_from_settled_trades_in_constant_queries(client, buyer):  # noqa: F811
    cache.clear()
    seller = make_seller()
    client.force_login(seller)
    sell(buyer, 1000)
    market_queries(client)  # warm the scarcity cache
    one_trade = market_queries(client)
    sell(buyer, 2000)
    sell(buyer, 4000)
    sell(buyer, 9000, settle=False)  # not settled: not a price paid

    assert market_queries(client) == one_trade
    response = client.get(reverse(PARTIAL), {"categories": ["location", "device"]})
    location, device = response.context["market"]
    # each line's price shared between its two categories: 500, 1000, 2000 per record
    p25, median, p75 = percentiles([500, 1000, 2000])
    assert (p25, median, p75) == (750, 1000, 1500)  # the Python twin of percentile_cont
    assert location["trades"] == 3 and location["trades_label"] == "3 trades"
    assert (location["p25"], location["median"], location["p75"]) == ("€7.50", "€10.00", "€15.00")
    assert device["trades"] == 0 and device["median"] is None
    # the Python twin (SQLite) finds the same figures from the same lines
    bits = {c: taxonomy.mask_of([c], taxonomy.CATEGORY_CODES) for c in ("location", "device")}
    window = timedelta(days=30)
    twin = marketplace_selectors.paid_in_python(marketplace_selectors.lines_paid(bits, window), bits)
    assert twin == marketplace_selectors.paid_per_record(["location", "device"], window)
    assert twin["location"] == {"trades": 3, "p25_cents": 750, "p50_cents": 1000, "p75_cents": 1500}
    body = response.content.decode()
    assert "€7.50 – €15.00" in body
    french = client.get(reverse(PARTIAL), {"categories": ["location"]}, headers=FR).content.decode()
    assert "3 ventes" in french and "7,50\xa0€ – 15,00\xa0€" in french
