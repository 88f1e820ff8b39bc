"""A newcomer's first hour, across apps: a new seller signs up in Chromium, gets the verified
badge, grants consent and lists data; in the same second a buyer's browse, detail and segment
size see the listing over HTTP; the buyer, with a card at the Stripe sandbox, buys it and a worker
step settles it; the seller sees the sale, and the GDPR export names the buyer among the
recipients. A buyer without a card could not have taken it off the market."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts import services as account_services
from accounts.models import User
from listings.models import Listing
from marketplace import settlement
from marketplace.models import Trade
from tests.factories import VerifiedOrganisationFactory
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    buyer_with_card,
    stripe_api,
    stripe_sandbox,
    stripe_settings,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/courtier-newcomer-sales.png"
DEMOGRAPHICS = "Demographics (age band, gender, birth date)"
PASSWORD = "un mot de passe solide"


def sign_up_with_a_complete_profile(page: Page, url: str) -> User:
    page.goto(f"{url}/signup/")
    page.get_by_label("Email").fill("lea@example.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_label("Name").fill("Léa Martin")
    page.get_by_role("combobox", name="Language").select_option("en")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    page.get_by_label("Gender").select_option("female")
    page.get_by_label("Region").select_option(label="Île-de-France")
    page.get_by_label("Mobile OS").select_option("android")
    page.get_by_label("Mobile operator").select_option("orange")
    page.get_by_label("Travel").check()
    page.get_by_label("Podcasts").check()
    page.get_by_label("Birth date").fill("1992-03-08")
    page.get_by_label("Postcode").fill("75011")
    page.get_by_label("Mobile phone").fill("06 12 34 56 78")
    page.get_by_role("button", name="Save my profile").click()
    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")
    return User.objects.get(email="lea@example.test")


def verify_email_and_phone(page: Page, url: str, seller: User) -> None:
    page.goto(f"{url}/verify/email/{account_services.email_verification_token(seller)}/")
    page.get_by_role("button", name="Confirm my email address").click()
    page.goto(f"{url}/verify/")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label(re.compile("Code")).fill(account_services.phone_verification_code(seller=seller))
    page.get_by_role("button", name="Verify my phone").click()
    expect(page.get_by_text("Your phone number is verified.")).to_be_visible()


def test_a_new_seller_lists_and_a_buyer_sees_buys_and_is_named_in_the_export(
    page: Page,
    live_server,
    settings,
    buyer_with_card,  # noqa: F811  (the fixture imported above)
    api_client_for,
):
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    settings.SEGMENT_MIN_SIZE = 1  # one seller is the whole segment here
    url = live_server.url

    seller = sign_up_with_a_complete_profile(page, url)
    verify_email_and_phone(page, url, seller)

    page.goto(f"{url}/consents/")
    page.get_by_label("Data category", exact=True).select_option(label=DEMOGRAPHICS)
    page.get_by_label("Purpose", exact=True).select_option(label="Targeted advertising")
    page.get_by_label("For how long").select_option("90")
    page.get_by_role("button", name="Grant this consent").click()
    expect(page.get_by_role("status")).to_contain_text("Consent granted.")

    page.goto(f"{url}/listings/new/")
    page.get_by_label("Floor price (€)").fill("4,20")
    page.get_by_role("button", name="Create the listing").click()
    expect(page.get_by_role("status")).to_contain_text("Listing created.")
    expect(page.locator("ul.listings > li .status")).to_have_text("Active")  # the verified badge
    listing = Listing.objects.get(seller__email="lea@example.test")

    # The same second, for buyers: browse, detail and segment size
    buyer = buyer_with_card("4242424242424242")
    api = api_client_for(buyer)
    browse = api.get("/api/v1/listings/").json()["results"]
    assert [row["id"] for row in browse] == [str(listing.public_id)]
    assert api.get(f"/api/v1/listings/{listing.public_id}/").status_code == 200
    size = api.post(
        "/api/v1/segments/size/",
        {"categories": ["demographics"], "purpose": "targeted_advertising", "regions": ["FR-IDF"]},
        format="json",
    ).json()
    assert size["count"] == 1, size

    # A buyer without a card cannot take it off the market
    cardless = api_client_for(VerifiedOrganisationFactory())
    refused = cardless.post("/api/v1/bids/", {"listing": str(listing.public_id)}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (422, "payment_method_required")
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE

    # The buyer with a card buys it; a worker settles it
    bought = api.post("/api/v1/bids/", {"listing": str(listing.public_id)}, format="json")
    assert bought.status_code == 201, bought.content
    trade = Trade.objects.get(bid__public_id=bought.json()["id"])
    assert settlement.trades_settle(trade_ids=[trade.pk]) == 1  # settled
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.SOLD

    # The seller sees the sale...
    page.goto(f"{url}/sales/")
    expect(page.get_by_text(buyer.legal_name).first).to_be_visible()
    page.screenshot(path=SCREENSHOT, full_page=True)
    # ... and the export names the buyer among the recipients (Art. 15(1)(c))
    export = page.request.get(f"{url}/my-data/export.json").json()
    recipients = export["recipients"]
    assert [r["organisation"] for r in recipients] == [buyer.legal_name]
    assert recipients[0]["purpose"] == "targeted_advertising"
    assert [s["buyer"] for s in export["sales"]] == [buyer.legal_name]
