"""In Chromium at 360 px: the "what is my data worth" simulator follows a ticked checkbox through
htmx (the vendored file, under the CSP) without reloading the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from listings.valuation import seller_valuation
from tests.listings.conftest import make_seller

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCATION = "Location (region, postcode)"
DEVICE = "Device (mobile OS)"


def euros(cents: int) -> str:
    return f"€{cents // 100:,}.{cents % 100:02d}"


def test_ticking_a_category_updates_the_estimate_without_a_reload(page: Page, live_server):
    seller = make_seller()
    location = seller_valuation(seller=seller, categories=["location"])["total"]["estimate_cents"]
    both = seller_valuation(seller=seller, categories=["location", "device"])["total"]["estimate_cents"]
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(seller.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")

    page.goto(f"{live_server.url}/worth/")
    page.evaluate("window.__samePage = true")
    page.get_by_label(LOCATION).check()
    expect(page.locator("[data-total]")).to_have_text(euros(location))
    expect(page.locator("table.worth tbody tr")).to_have_count(1)
    page.get_by_label(DEVICE).check()
    expect(page.locator("[data-total]")).to_have_text(euros(both))
    expect(page.locator("[data-market]")).to_have_count(2)
    expect(page.get_by_role("status")).to_have_text(
        re.compile(rf"^Estimate {re.escape(euros(both))} per record")
    )

    assert page.evaluate("window.__samePage") is True  # swapped in, not reloaded
    assert page.url == f"{live_server.url}/worth/"
    wide = page.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
        ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
    )
    page.screenshot(path="/tmp/courtier-worth-360.png", full_page=True)
    assert wide == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert errors == []  # nothing blocked by the CSP, no script error
