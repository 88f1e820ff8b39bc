"""The seller's dashboard: next steps that follow the seller's state, cards with figures (in the
seller's language), and a query count that does not grow with the number of sales."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.models import ConnectAccount
from tests.factories import SellerFactory
from tests.listings.conftest import make_seller
from tests.marketplace.seller_history import seller_with_sales

pytestmark = pytest.mark.django_db

ALL_STEPS = [
    "verify-email",
    "verify-phone",
    "complete-profile",
    "give-consent",
    "create-listing",
    "set-up-payouts",
]


def _steps(html: str) -> list[str]:
    return re.findall(r'data-step="([a-z-]+)"', html)


def _page(client, seller, language: str = "en") -> str:
    client.force_login(seller)
    response = client.get(reverse("seller-dashboard"), headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.content.decode()


def test_a_new_seller_is_shown_every_step_in_order(client):
    html = _page(client, SellerFactory())

    assert _steps(html) == ALL_STEPS
    assert "No active consent: nobody may buy your data." in html
    assert "No listing yet." in html and "Nobody has bought your data yet." in html
    assert 'data-amount="this-month">€0.00<' in html


def test_steps_already_taken_are_not_asked_again(client):
    seller = make_seller()  # complete profile, consents given

    assert _steps(_page(client, seller)) == [
        "verify-email",
        "verify-phone",
        "create-listing",
        "set-up-payouts",
    ]

    seller_with_sales(1, seller=seller)  # a listing, and a sale
    seller.email_verified_at = seller.phone_verified_at = timezone.now()
    seller.save(update_fields=["email_verified_at", "phone_verified_at"])

    assert _steps(_page(client, seller)) == ["set-up-payouts"]

    ConnectAccount.objects.create(seller=seller, stripe_account_id=f"acct_{seller.pk}", payouts_enabled=True)
    html = _page(client, seller)

    assert _steps(html) == [] and "Next steps" not in html and "Verify your" not in html


def test_cards_show_consents_listings_earnings_last_buyer_and_notices_in_english(client):
    seller, _buyers = seller_with_sales(1)

    html = _page(client, seller)

    assert 'data-count="active-consents">2<' in html  # make_seller: two categories, one purpose
    assert re.search(r"The next one ends on [\w.]+ \d+, \d{4}, in 90 days\.", html)
    assert re.search(r'data-listings="active"><dt>Active</dt><dd>1</dd>', html)
    assert 'data-amount="this-month">€1.20<' in html  # 150 cents less the 20 % fee
    assert "<strong data-last-buyer>Annonces Lumière SAS</strong>" in html
    assert "4 deletion notices await the buyers&#x27; confirmation; <strong>2 are overdue</strong>." in html


def test_cards_in_french_use_french_money_dates_and_plurals(client):
    seller, _buyers = seller_with_sales(1, buyers=None)

    html = _page(client, seller, "fr")

    assert '<html lang="fr">' in html
    assert "Consentements actifs" in html
    assert 'data-amount="this-month">1,20\N{NO-BREAK SPACE}€<' in html
    assert re.search(r"Le prochain prend fin le \d{1,2} \w+ \d{4}, dans 90 jours\.", html)
    assert "4 avis de suppression attendent la confirmation des acheteurs" in html
    assert "<strong>2 sont en retard</strong>" in html
    assert "Mettez vos données en vente" not in html  # a listing exists
    assert "Configurez les versements" in html


def _queries(client, seller) -> int:
    client.force_login(seller)
    client.get(reverse("seller-dashboard"))  # warm the session and caches
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("seller-dashboard")).status_code == 200
    return len(queries)


def test_query_count_is_the_same_for_10_and_1000_sales(client):
    few, _ = seller_with_sales(10)
    many, _ = seller_with_sales(1_000)

    assert _queries(client, few) == _queries(client, many) <= 15
