"""A seller's whole journey on a 360 × 740 touch screen, in French and then in English: sign-up,
the emailed link, the profile, a consent granted from its matrix cell, a listing at the suggested
price, the worth simulator reacting, a sale (a buyer with a card buys through the API and a worker
step settles it), the earnings, the consent withdrawn from its cell, the buyer's access revoked
and the deletion notice shown, the export downloaded, the account erased. Navigation goes through
the menu button; every page fits the screen. Expected texts come from the message catalogue."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import translation
from playwright.sync_api import Browser, Page, expect

from accounts import services as account_services
from accounts.models import User
from accounts.selectors import seller_badges
from core.money import format_money
from listings.models import Listing
from listings.valuation import seller_valuation
from marketplace import settlement
from marketplace.models import DeletionNotice, Trade
from tests.browser.menu import nav_link
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    buyer_with_card,
    stripe_api,
    stripe_sandbox,
    stripe_settings,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "un mot de passe solide"
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# what sticks out, for the failure message
WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 40))"""
CELL = 'td[data-cell="demographics:targeted_advertising"]'
LOCALES = {"fr": "fr-FR", "en": "en-GB"}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_seller_journey_on_a_phone(
    browser: Browser,
    live_server,
    settings,
    language: str,
    buyer_with_card,  # noqa: F811  (the fixture imported above)
    api_client_for,
):
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    url = live_server.url
    email = f"lea.{language}@example.test"

    def t(message: str) -> str:
        with translation.override(language):
            return translation.gettext(message)

    def label(choice) -> str:
        with translation.override(language):
            return str(choice.label)

    def money(cents: int) -> str:
        with translation.override(language):
            return format_money(cents, "EUR")

    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale=LOCALES[language], has_touch=True, is_mobile=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    def go(link: str, heading: str) -> None:
        nav_link(page, t(link), navigation=t("Main")).tap()
        expect(page.get_by_role("heading", level=1)).to_have_text(t(heading))
        fits(page)

    # Sign up: the verification email is sent at once
    page.goto(f"{url}/signup/")
    page.get_by_label(t("Email")).fill(email)
    page.get_by_label(t("Password"), exact=True).fill(PASSWORD)
    page.get_by_label(t("Password again")).fill(PASSWORD)
    page.get_by_label(t("Name")).fill("Léa Martin")
    page.get_by_role("combobox", name=t("Language")).select_option(language)
    page.get_by_role("button", name=t("Sign up")).tap()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Your profile"))
    expect(page.locator("html")).to_have_attribute("lang", language)
    seller = User.objects.get(email=email)

    # The emailed link (Django's outbox), opened on the phone
    (message,) = [m for m in mail.outbox if m.to == [email]]
    link = re.search(r"https?://\S+/verify/email/\S+/", message.body)
    assert link, message.body
    page.goto(url + urlsplit(link.group(0)).path)
    page.get_by_role("button", name=t("Confirm my email address")).tap()
    expect(page.get_by_role("status")).to_contain_text(t("Your email is verified."))

    # The profile, then the phone code
    go("Profile", "Your profile")
    page.get_by_label(t("Gender")).select_option("female")
    page.get_by_label(t("Region")).select_option(label="Île-de-France")
    page.get_by_label(t("Mobile OS")).select_option("android")
    page.get_by_label(t("Mobile operator")).select_option("orange")
    page.locator("input[name=interests][value=travel]").check()
    page.locator("input[name=affinities][value=podcasts]").check()
    page.get_by_label(t("Birth date")).fill("1992-03-08")
    page.get_by_label(t("Postcode")).fill("75011")
    page.get_by_label(t("Mobile phone")).fill("06 12 34 56 78")
    page.get_by_role("button", name=t("Save my profile")).tap()
    expect(page.get_by_role("status")).to_contain_text(t("Your profile is saved."))
    page.goto(f"{url}/verify/")
    page.get_by_role("button", name=t("Send me a code")).tap()
    page.get_by_label(t("Code received by SMS")).fill(account_services.phone_verification_code(seller=seller))
    page.get_by_role("button", name=t("Verify my phone")).tap()
    expect(page.get_by_text(t("Your phone number is verified."))).to_be_visible()
    seller.refresh_from_db()
    assert seller_badges(seller=seller)["verified_seller"]

    # Consent granted by tapping its matrix cell
    go("Consents", "Your consents")
    cell = page.locator(CELL)
    cell.locator("[data-grant]").tap()
    expect(cell).to_have_attribute("data-state", "granted")
    expect(cell.get_by_role("status")).to_have_text(t("Consent granted."))
    fits(page)

    # A listing at the suggested price
    go("Listings", "My listings")
    page.locator("main a[href$='/listings/new/']").first.tap()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("New listing"))
    suggestion = seller_valuation(
        seller=seller, categories=["demographics"], purposes=["targeted_advertising"], licence_days=30
    )
    expect(page.locator("#suggestion [data-estimate]")).to_have_text(
        money(suggestion["total"]["estimate_cents"])
    )
    fits(page)
    page.get_by_role("button", name=t("Use this price")).tap()
    page.get_by_role("button", name=t("Create the listing")).tap()
    expect(page.get_by_role("status")).to_contain_text(t("Listing created."))
    expect(page.locator("ul.listings > li .status")).to_have_text(label(Listing.Status.ACTIVE))
    listing = Listing.objects.get(seller=seller)
    assert listing.floor_price_cents == suggestion["total"]["estimate_cents"]

    # The simulator reacts to a ticked category without a reload
    go("My data's worth", "What my data is worth")
    page.evaluate("window.samePage = true")
    page.locator("input[name=categories][value=location]").check()
    location = seller_valuation(seller=seller, categories=["location"])["total"]["estimate_cents"]
    expect(page.locator("[data-total]")).to_have_text(money(location))
    page.locator("input[name=categories][value=device]").check()
    both = seller_valuation(seller=seller, categories=["location", "device"])["total"]["estimate_cents"]
    expect(page.locator("[data-total]")).to_have_text(money(both))
    assert page.evaluate("window.samePage") is True
    fits(page)

    # A sale: a buyer with a card buys it through the API; a worker step settles it
    buyer = buyer_with_card("4242424242424242")
    api = api_client_for(buyer)
    bought = api.post("/api/v1/bids/", {"listing": str(listing.public_id)}, format="json")
    assert bought.status_code == 201, bought.content
    trade = Trade.objects.get(bid__public_id=bought.json()["id"])
    assert settlement.trades_settle(trade_ids=[trade.pk]) == 1
    records = f"/api/v1/trades/{trade.public_id}/records/"
    assert api.get(records).status_code == 200

    # Earnings show it
    go("Earnings", "Earnings and payouts")
    payable = page.locator("[data-amount=payable]")
    expect(payable).not_to_have_text(money(0))
    expect(payable).to_have_text(re.compile(r"\d"))

    # Withdrawal from the matrix cell: one tap, one tap to confirm
    go("Consents", "Your consents")
    cell = page.locator(CELL)
    cell.locator("[data-withdraw]").tap()
    cell.locator("[data-confirm]").tap()
    expect(cell).to_have_attribute("data-state", "none")
    expect(cell.get_by_role("status")).to_have_text(
        t("Consent revoked. Buyers who hold this data must delete it.")
    )

    # The buyer's access is revoked, and the seller sees the deletion notice sent to them
    assert api.get(records).status_code == 410
    assert DeletionNotice.objects.filter(organisation=buyer, seller=seller).count() == 1
    go("Who bought my data", "Who bought my data")
    section = page.locator("section.buyer", has_text=buyer.legal_name)
    expect(section.locator("[data-notices] tbody tr")).to_have_count(1)

    # Export: the download names the buyer among the recipients
    go("My data", "My data")
    with page.expect_download() as download:
        page.locator("main a[href$='/my-data/export.json']").first.tap()
    with open(download.value.path(), encoding="utf-8") as exported:
        export = json.load(exported)
    assert [r["organisation"] for r in export["recipients"]] == [buyer.legal_name]

    # Erasure: type the email to confirm; logged out
    page.locator("main a[href$='/my-data/erase/']").first.tap()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Erase my account"))
    page.get_by_label(t("Type your email to confirm")).fill(email)
    page.get_by_role("button", name=t("Erase my account for good")).tap()
    expect(page.get_by_role("status")).to_contain_text(t("Your account and your data are erased. Goodbye."))
    fits(page)
    seller.refresh_from_db()
    assert seller.erased_at is not None and seller.email != email

    page.screenshot(path=f"/tmp/courtier-seller-journey-{language}.png", full_page=True)
    assert errors == [], errors  # nothing refused by the Content-Security-Policy, no script error
    context.close()


def fits(page: Page) -> None:
    assert page.evaluate(FITS), (page.url, page.evaluate(WIDER))
