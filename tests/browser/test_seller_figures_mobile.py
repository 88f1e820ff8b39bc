"""In Chromium at 360 × 740: the dashboard, earnings and "who bought my data" pages of a seller
with sales fit the screen (no sideways scroll), the charts are drawn, the sales tables are cards,
and nothing breaks the Content-Security-Policy, in English and in French."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page

from tests.marketplace.seller_history import seller_with_sales

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["seller-dashboard", "seller-payouts", "seller-sales"]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_seller_figures_fit_a_360_px_screen(page: Page, live_server, language):
    seller, _buyers = seller_with_sales(30)
    page.set_viewport_size({"width": 360, "height": 740})
    client = Client()
    client.force_login(seller)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    for name in PAGES:
        response = page.goto(f"{live_server.url}{reverse(name)}")
        assert response is not None and response.status == 200, name
        assert page.evaluate("document.documentElement.lang") == language
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (name, width)
        if name == "seller-payouts":
            assert page.locator("svg[role=img]").count() == 3
            box = page.locator("svg[role=img]").first.bounding_box()
            assert box is not None and box["width"] <= 360
        if name == "seller-sales":
            # a card: the header row is hidden, each cell shows its label before its value
            display = page.evaluate("getComputedStyle(document.querySelector('.table-cards tr')).display")
            assert display == "block"
            before = page.evaluate(
                "getComputedStyle(document.querySelector('.table-cards td'), '::before').content"
            )
            assert before not in ("none", "normal", '""')
    assert violations == []
