"""The admin reads like the product (issue 14): amounts in euros through the active language
(core.admin.money_column), labels instead of codes, the Courtier name and stylesheet."""

from __future__ import annotations

import pytest

from tests.admin_queue_rows import queue_rows

pytestmark = pytest.mark.django_db


def _page(client, path: str, language: str = "en") -> str:
    page = client.get(path, headers={"accept-language": language})
    assert page.status_code == 200, path
    return page.content.decode()


def test_amounts_show_in_euros_in_each_language(moderator_client):
    queue_rows()

    assert "€42.00" in _page(moderator_client, "/admin/payments/payout/")
    assert "42,00\N{NO-BREAK SPACE}€" in _page(moderator_client, "/admin/payments/payout/", "fr")
    assert "€50.00" in _page(moderator_client, "/admin/payments/dispute/")
    listings = _page(moderator_client, "/admin/listings/listing/")
    assert "€12.50" in listings and "1250" not in listings


def test_codes_show_as_labels(moderator_client):
    queue_rows()

    listings = _page(moderator_client, "/admin/listings/listing/")
    assert '<td class="field-category_list">Demographics, Location</td>' in listings
    organisations = _page(moderator_client, "/admin/accounts/buyerorganisation/", "fr")
    assert '<td class="field-country_label">France</td>' in organisations
    notices = _page(moderator_client, "/admin/marketplace/deletionnotice/")
    assert "Consent withdrawn" in notices


def test_every_admin_page_carries_the_name_and_colours(moderator_client):
    page = _page(moderator_client, "/admin/payments/payout/", "fr")

    assert '<span class="courtier-brand">Courtier</span>' in page
    assert "/static/admin/courtier.css" in page
    assert "Versements" in page  # the model's name in French
