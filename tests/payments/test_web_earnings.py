"""The earnings and payouts page: balance, payouts with their status, the Stripe onboarding state,
and three charts drawn by the server as accessible SVG with the data table behind each, in the
seller's language, with a query count that does not grow with the number of sales."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.models import ConnectAccount, Payout
from tests.factories import SellerFactory
from tests.marketplace.seller_history import seller_with_sales

pytestmark = pytest.mark.django_db


def _page(client, seller, language: str = "en") -> str:
    client.force_login(seller)
    response = client.get(reverse("seller-payouts"), headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.content.decode()


def _figures(html: str, slug: str) -> list[tuple[str, str]]:
    """The (label, amount) rows of a chart's data table."""
    figure = html[html.index(f'data-chart="{slug}"') :]
    table = figure[figure.index("<tbody>") : figure.index("</tbody>")]
    return re.findall(
        r'<th scope="row" data-label="[^"]*">([^<]*)</th><td data-label="[^"]*">([^<]*)</td>', table
    )


def test_charts_are_accessible_svg_with_their_data_tables(client):
    seller, _buyers = seller_with_sales(10)  # 10 × 150 cents, 120 each after the 20 % fee

    html = _page(client, seller)

    for slug in ("chart-months", "chart-categories", "chart-buyers"):
        assert re.search(rf'<svg role="img" aria-labelledby="{slug}-title {slug}-desc"', html)
        assert f'<title id="{slug}-title">' in html and f'<desc id="{slug}-desc">' in html
    assert "in total €12.00 over the last 12 months." in html
    months = _figures(html, "chart-months")
    assert len(months) == 12 and sum(float(amount.lstrip("€")) for _, amount in months) == 12.0
    assert months[-1][0] == timezone.localdate().strftime("%B %Y")
    assert _figures(html, "chart-categories") == [
        ("Demographics (age band, gender, birth date)", "€9.00"),  # 5 × 120 + 5 × 60
        ("Location (region, postcode)", "€3.00"),
    ]
    assert _figures(html, "chart-buyers") == [
        ("Annonces Lumière SAS", "€6.00"),
        ("Brume Analytics SARL", "€6.00"),
    ]
    assert " style=" not in html  # the CSP allows no inline style: presentation attributes only


def test_the_page_is_in_french_with_french_amounts_and_months(client):
    seller, _buyers = seller_with_sales(10)

    html = _page(client, seller, "fr")

    assert "Revenus par mois, sur les 12 derniers mois" in html
    assert "12,00\N{NO-BREAK SPACE}€ au total sur les 12 derniers mois." in html
    assert _figures(html, "chart-categories") == [
        ("Démographie (tranche d’âge, genre, date de naissance)", "9,00\N{NO-BREAK SPACE}€"),
        ("Localisation (région, code postal)", "3,00\N{NO-BREAK SPACE}€"),
    ]
    assert ("Annonces Lumière SAS", "6,00\N{NO-BREAK SPACE}€") in _figures(html, "chart-buyers")
    assert re.search(
        r"(janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre) \d{4}", html
    )
    assert "Pas encore configurés" in html


def test_payouts_show_their_status_and_onboarding_state(client):
    seller = SellerFactory()

    html = _page(client, seller)
    assert 'data-state="payouts-disabled"' in html and "Not set up" in html and "Set up payouts" in html
    assert "No settled sale in the last 12 months" in html and "<svg" not in html

    account = ConnectAccount.objects.create(
        seller=seller, stripe_account_id=f"acct_{seller.pk}", payouts_enabled=True, details_submitted=True
    )
    Payout.objects.create(seller=seller, connect_account=account, amount=2_940, status=Payout.Status.PENDING)
    Payout.objects.create(
        seller=seller,
        connect_account=account,
        amount=1_000,
        status=Payout.Status.PAID,
        transfer_id=f"tr_{seller.pk}",
        transferred_at=timezone.now(),
    )

    html = _page(client, seller)
    assert 'data-state="payouts-enabled"' in html and "Payouts enabled" in html
    assert 'data-amount="in-flight">€29.40<' in html and 'data-amount="paid-out">€10.00<' in html
    assert "1 payout is waiting for its transfer." in html
    assert re.search(r'data-status="pending">.*?€29.40</td>\s*<td data-label="Status">Pending', html, re.S)

    html = _page(client, seller, "fr")
    assert 'data-amount="in-flight">29,40\N{NO-BREAK SPACE}€<' in html
    assert "1 versement attend son virement." in html


def _queries(client, seller) -> int:
    client.force_login(seller)
    client.get(reverse("seller-payouts"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("seller-payouts")).status_code == 200
    return len(queries)


def test_query_count_is_the_same_for_10_and_1000_sales(client):
    few, _ = seller_with_sales(10)
    many, _ = seller_with_sales(1_000)

    assert _queries(client, few) == _queries(client, many) <= 15
