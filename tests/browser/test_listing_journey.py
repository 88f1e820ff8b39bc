"""End to end in Chromium: a consenting seller logs in, sees a suggested price, lists, pauses."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from listings.models import Listing
from listings.valuation import seller_valuation
from tests.browser.menu import nav_link
from tests.listings.conftest import make_seller

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/courtier-listings.png"
SCREENSHOT_NEW = "/tmp/courtier-new-listing.png"
SCREENSHOT_WORTH = "/tmp/courtier-worth.png"
DEMOGRAPHICS = "Demographics (age band, gender, birth date)"
LOCATION = "Location (region, postcode)"


def euros(cents: int) -> str:
    return f"€{cents // 100:,}.{cents % 100:02d}"


def test_seller_lists_data_at_a_suggested_price_then_pauses_it(page: Page, live_server, settings):
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    # Verified, with consents for demographics and location × targeted advertising (services).
    seller = make_seller(verified=True)
    ads = ["targeted_advertising"]  # the purpose the form is prefilled with: the price follows it
    both = seller_valuation(
        seller=seller, categories=["demographics", "location"], purposes=ads, licence_days=30
    )
    alone = seller_valuation(seller=seller, categories=["demographics"], purposes=ads, licence_days=90)

    # Log in
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(seller.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")

    # New listing: prefilled with what the seller consents to, and a suggested price
    nav_link(page, "Listings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My listings")
    expect(page.get_by_text("You have no current listing.")).to_be_visible()
    page.get_by_role("link", name="New listing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New listing")
    expect(page.get_by_label(DEMOGRAPHICS)).to_be_checked()
    expect(page.get_by_label(LOCATION)).to_be_checked()
    expect(page.get_by_label("Targeted advertising")).to_be_checked()
    suggestion = page.locator("#suggestion [data-estimate]")
    expect(suggestion).to_have_text(euros(both["total"]["estimate_cents"]))
    expect(page.get_by_label("Auction ends at")).to_be_hidden()  # fixed price is the default

    # The suggestion follows the choice (fetched from /valuation.json)
    page.get_by_label(LOCATION).uncheck()
    page.get_by_label("90 days").check()
    expect(suggestion).to_have_text(euros(alone["total"]["estimate_cents"]))
    page.get_by_label("Auction (sealed bids)").check()
    expect(page.get_by_label("Auction ends at")).to_be_visible()
    page.get_by_label("Fixed price (buy now)").check()
    page.get_by_role("button", name="Use this price").click()
    expect(page.get_by_label("Floor price (€)")).to_have_value(
        f"{alone['total']['estimate_cents'] / 100:.2f}"
    )
    page.screenshot(path=SCREENSHOT_NEW, full_page=True)

    # A price with too many decimals is refused, then a good one is accepted
    page.get_by_label("Floor price (€)").fill("3.999")
    page.get_by_role("button", name="Create the listing").click()
    expect(page.get_by_text("Use at most two decimals (cents).")).to_be_visible()
    assert not Listing.objects.exists()
    page.get_by_label("Floor price (€)").fill("3,50")
    page.get_by_role("button", name="Create the listing").click()

    # My listings: the new listing is live
    expect(page.get_by_role("status")).to_contain_text("Listing created.")
    item = page.locator("ul.listings > li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(DEMOGRAPHICS)
    expect(item).to_contain_text("Targeted advertising")
    expect(item).to_contain_text("90 days")
    expect(item).to_contain_text("€3.50")
    expect(item.locator(".status")).to_have_text("Active")

    # Pause it
    item.get_by_role("button", name=re.compile("^Pause")).click()
    expect(page.get_by_role("status")).to_contain_text("Listing paused: buyers no longer see it.")
    expect(page.locator("ul.listings > li .status")).to_have_text("Paused")
    expect(page.locator("ul.listings > li").get_by_role("button", name=re.compile("^Resume"))).to_be_visible()

    listing = Listing.objects.get(seller=seller)
    assert (listing.status, listing.floor_price_cents, listing.licence_days) == ("paused", 350, 90)
    assert listing.categories == ["demographics"]

    page.screenshot(path=SCREENSHOT, full_page=True)

    # What my data is worth, for a year-long licence
    nav_link(page, "My data's worth").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What my data is worth")
    page.get_by_label("Licence length").select_option("365")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/worth/\?licence_days=365&consent_window_days=365$"))
    year = seller_valuation(seller=seller, licence_days=365)
    expect(page.locator("[data-total]")).to_have_text(euros(year["total"]["estimate_cents"]))
    expect(page.locator("table.worth tbody tr")).to_have_count(7)
    expect(page.locator('tr[data-category="location"]')).to_contain_text("of sellers share your region")
    page.screenshot(path=SCREENSHOT_WORTH, full_page=True)
