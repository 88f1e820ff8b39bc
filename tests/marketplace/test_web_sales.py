"""Who bought my data: per buyer organisation, what it bought (category labels), for what purpose,
until when, how often it read it, and the deletion notices it was sent with their state; tables
that turn into cards on a phone; in the seller's language; a query count that does not grow with
the number of sales."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace.models import DeletionNotice
from tests.factories import SellerFactory
from tests.marketplace.seller_history import seller_with_sales

pytestmark = pytest.mark.django_db


def _page(client, seller, language: str = "en") -> str:
    client.force_login(seller)
    response = client.get(reverse("seller-sales"), headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.content.decode()


def _section(html: str, name: str) -> str:
    start = html.index(f">{name} <small>")
    return html[start : html.find("</section>", start)]


def test_each_buyer_shows_what_for_what_until_when_reads_and_notices(client):
    seller, _buyers = seller_with_sales(40)  # alternately to each buyer, one a day; 30-day licences

    html = _page(client, seller)

    assert html.index("Annonces Lumière SAS") < html.index("Brume Analytics SARL")
    first = _section(html, "Annonces Lumière SAS")
    assert "Demographics (age band, gender, birth date), Location (region, postcode)" in first
    assert "Targeted advertising" in first
    assert "20 licences, 15 still running" in first  # sold 0, 2, … 38 days ago
    assert re.search(
        r'data-label="Until"><span>[A-Z][a-z]{2}\.? \d+, \d{4}<', first
    )  # the latest licence end
    assert 'data-label="Reads">20<' in first and 'data-label="Last read">' in first
    assert sorted(re.findall(r'data-notice-status="(\w+)"', first)) == ["acknowledged", "overdue", "sent"]
    assert ">Sent<" in first and ">Acknowledged</span> on " in first and ">Overdue<" in first
    second = _section(html, "Brume Analytics SARL")
    assert "Demographics (age band, gender, birth date)</td>" in second
    assert "20 licences, 15 still running" in second
    for code in ("targeted_advertising", "demographics,", ">location", "FR-IDF"):
        assert code not in html


def test_a_sent_notice_past_its_deadline_shows_as_overdue(client):
    seller, (buyer, _other) = seller_with_sales(2)
    DeletionNotice.objects.filter(organisation=buyer, status="sent").update(
        deadline=timezone.now() - timedelta(hours=1)
    )

    first = _section(_page(client, seller), "Annonces Lumière SAS")

    assert sorted(re.findall(r'data-notice-status="(\w+)"', first)) == ["acknowledged", "overdue", "overdue"]


def test_tables_are_cards_on_phones_every_cell_labelled(client):
    seller, _buyers = seller_with_sales(4)

    html = _page(client, seller)

    assert html.count('<table class="table-cards"') == 4  # licences and notices, per buyer
    cells = re.findall(r"<td[^>]*>", html)
    assert cells and all("data-label=" in cell for cell in cells)
    assert "table-scroll" not in html


def test_the_page_in_french(client):
    seller, _buyers = seller_with_sales(40)

    first = _section(_page(client, seller, "fr"), "Annonces Lumière SAS")

    assert (
        "Démographie (tranche d’âge, genre, date de naissance), Localisation (région, code postal)" in first
    )
    assert "Publicité ciblée" in first
    assert "20 licences, 15 encore en cours" in first
    assert "Ce qu’a acheté Annonces Lumière SAS" in first
    assert ">Envoyé<" in first and ">Confirmé</span> le " in first and ">En retard<" in first
    assert re.search(r'data-label="Jusqu’au"><span>\d{1,2} \w+ \d{4}<', first)


def test_a_seller_without_sales(client):
    html = _page(client, SellerFactory(), "fr")

    assert "Personne n’a encore acheté vos données." in html


def _queries(client, seller) -> int:
    client.force_login(seller)
    client.get(reverse("seller-sales"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("seller-sales")).status_code == 200
    return len(queries)


def test_query_count_is_the_same_for_10_and_1000_sales(client):
    few, _ = seller_with_sales(10)
    many, _ = seller_with_sales(1_000)

    assert _queries(client, few) == _queries(client, many) <= 15
