"""Chromium on a 360 × 740 touch screen: the consents page fits the screen, and a consent is
granted and withdrawn by tapping its matrix cell (htmx: the page is never reloaded)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from accounts import services
from accounts.models import ConsentGrant
from tests.factories import SellerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/courtier-consent-matrix.png"
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def test_grant_and_withdraw_from_the_cell_on_a_phone(browser: Browser, live_server):
    seller = SellerFactory()
    granted = services.consent_grant(
        seller=seller, category="demographics", purpose="targeted_advertising", window_days=90
    )
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="en-GB", has_touch=True, is_mobile=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(seller.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/consents/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your consents")
    assert page.evaluate(FITS), page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    page.evaluate("window.sameDocument = true")

    # A 90-day grant made a moment ago: 90 days left, in its cell.
    demo = page.locator('td[data-cell="demographics:targeted_advertising"]')
    expect(demo).to_contain_text("Granted")
    expect(demo).to_contain_text("90 days left")

    # Grant from a cell: a window, then one tap.
    location = page.locator('td[data-cell="location:market_research"]')
    location.get_by_role("combobox").select_option("180")
    location.get_by_role("button", name=re.compile("^Grant")).tap()
    location = page.locator('td[data-cell="location:market_research"]')
    expect(location).to_have_attribute("data-state", "granted")
    expect(location).to_contain_text("180 days left")
    expect(location.get_by_role("status")).to_have_text("Consent granted.")

    # Withdraw from a cell: one tap, then one tap to confirm, in the cell.
    demo.get_by_role("link", name=re.compile("^Withdraw")).tap()
    expect(demo).to_contain_text("Withdraw this consent?")
    assert page.evaluate(FITS)
    demo.get_by_role("button", name=re.compile("^Yes, withdraw")).tap()
    expect(demo).to_have_attribute("data-state", "none")
    expect(demo).to_contain_text("Not granted")
    expect(demo.get_by_role("status")).to_contain_text("Consent revoked.")
    expect(demo.get_by_role("button", name=re.compile("^Grant"))).to_be_focused()
    expect(page.locator("table.history tbody tr").first).to_contain_text("Revoked")

    granted.refresh_from_db()
    assert granted.status == "revoked"
    assert ConsentGrant.objects.get(seller=seller, status="active").category == "location"
    assert page.evaluate("window.sameDocument") is True  # no reload: htmx swapped the matrix
    assert page.evaluate(FITS)

    # Each event's receipt downloads as a JSON file.
    with page.expect_download() as download:
        page.locator("table.history tbody tr").first.get_by_role("link", name=re.compile("Download")).click()
    assert re.fullmatch(r"consent-receipt-[0-9a-f-]{36}\.json", download.value.suggested_filename)

    # In French too: the longer labels still fit the screen.
    page.get_by_role("button", name="Français").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vos consentements")
    expect(demo).to_contain_text("Non donné")
    expect(location).to_contain_text("jours restants")
    expect(page.locator('td[data-cell="life_events:market_research"]')).to_contain_text(
        "j’accepte expressément"
    )
    assert page.evaluate(FITS), page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )

    page.screenshot(path=SCREENSHOT, full_page=True)
    assert errors == [], errors  # nothing refused by the Content-Security-Policy, no script error
    context.close()
