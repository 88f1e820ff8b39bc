"""A new advertiser in Chromium: signs up in the console, verifies its contact email (the emailed
link) and phone (the SMS code), requests verification; a moderator verifies it in the Django
admin; the advertiser saves a card through localstripe's Stripe.js stand-in and a SetupIntent,
creates an API key (its secret shown once), and that key sizes a segment over the API."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts import services as account_services
from accounts.models import ApiKey, BuyerOrganisation
from listings import services as listing_services
from payments.models import StripeCustomer
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.factories import ModeratorFactory, totp_code
from tests.listings.conftest import make_seller
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    stripe_api,
    stripe_sandbox,
    stripe_settings,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/courtier-console-keys.png"
SCREENSHOT_DASHBOARD = "/tmp/courtier-console-dashboard.png"
SCREENSHOT_CARD = "/tmp/courtier-console-card.png"
PASSWORD = "un mot de passe solide"


def sign_up(page: Page, url: str) -> BuyerOrganisation:
    page.goto(f"{url}/console/signup/")
    page.get_by_label("Your email").fill("claire@annonceur.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_label("Your name").fill("Claire Martin")
    page.get_by_label("Legal name").fill("Annonceur SAS")
    page.get_by_label("Registration number").fill("552100554")
    page.get_by_label("Country").fill("FR")
    page.get_by_label("Website").fill("https://annonceur.example")
    page.get_by_label("Contact name").fill("Claire Martin")
    page.get_by_label("Contact email").fill("contact@annonceur.example")
    page.get_by_label("Contact phone").fill("+33612345678")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Annonceur SAS")
    expect(page.locator("[data-status]")).to_have_text("Unverified")
    return BuyerOrganisation.objects.get(legal_name="Annonceur SAS")


def test_a_new_advertiser_is_verified_saves_a_card_and_sizes_a_segment_with_its_key(
    page: Page,
    live_server,
    settings,
    stripe_sandbox,  # noqa: F811  (the fixture imported above)
):
    settings.STRIPE_JS_URL = f"{stripe_sandbox.api_base}/js.stripe.com/v3/"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_courtier_local"
    settings.SEGMENT_MIN_SIZE = 1  # one consenting seller is the whole segment here
    seller = make_seller()
    listing_services.audience_optin_update(seller=seller, categories=["demographics", "location"])
    url = live_server.url
    page.add_init_script(RECORD_VIOLATIONS)

    organisation = sign_up(page, url)

    # Verification is refused while the contact email and phone are unverified
    page.get_by_role("button", name="Request verification").click()
    expect(page.get_by_role("alert")).to_have_text("Complete the missing details and checks first.")
    expect(page.locator("ul.missing")).to_contain_text("Contact phone not verified")
    page.screenshot(path=SCREENSHOT_DASHBOARD, full_page=True)

    # The contact email: the link we sent
    (message,) = [m for m in mail.outbox if m.to == ["contact@annonceur.example"]]
    link = re.search(r"https?://\S+(/console/verify/email/\S+/)", message.body)[1]
    page.goto(url + link)
    page.get_by_role("button", name="Confirm this contact email").click()
    expect(page.get_by_role("status")).to_contain_text("The contact email is verified.")

    # The contact phone: the code sent by SMS
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label(re.compile("Code")).fill(
        account_services.organisation_contact_phone_code(organisation=organisation)
    )
    page.get_by_role("button", name="Verify the phone").click()
    expect(page.get_by_role("status")).to_contain_text("The contact phone is verified.")

    page.get_by_role("button", name="Request verification").click()
    expect(page.locator("[data-status]")).to_have_text("Pending review")

    # A moderator verifies it in the admin, in another browser session
    moderator = ModeratorFactory()
    admin = page.context.browser.new_context().new_page()
    admin.goto(f"{url}/admin/login/")
    admin.get_by_label("Email").fill(moderator.email)
    admin.get_by_label("Password").fill("moderator-password")
    admin.get_by_label("Code").fill(totp_code())
    admin.get_by_role("button", name="Log in").click()
    admin.goto(f"{url}/admin/accounts/buyerorganisation/?verification_status__exact=pending")
    row = admin.get_by_role("row").filter(has_text="Annonceur SAS")
    expect(row).to_contain_text("—")  # nothing missing
    row.get_by_role("checkbox").check()
    admin.get_by_role("combobox", name="Action").select_option("verify")
    admin.get_by_role("button", name="Go").click()
    admin.get_by_label("Reason").fill("Kbis and contact details checked")
    admin.get_by_role("button", name="Confirm").click()
    expect(admin.get_by_text("1 updated.")).to_be_visible()
    admin.context.close()

    page.reload()
    expect(page.locator("[data-status]")).to_have_text("Verified")

    # The card: Stripe.js (localstripe's stand-in) confirms a SetupIntent
    page.get_by_role("navigation").get_by_role("link", name="Card").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Card")
    card = page.locator("#card-element")
    expect(card.get_by_placeholder("number")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []  # Stripe.js allowed, nothing inline
    page.screenshot(path=SCREENSHOT_CARD, full_page=True)
    card.get_by_placeholder("number").fill("4242424242424242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("75011")
    page.get_by_role("button", name="Save the card").click()
    expect(page.get_by_role("status")).to_contain_text("Your card is saved.")
    expect(page.locator(".saved-card")).to_contain_text("4242")
    customer = StripeCustomer.objects.get(organisation=organisation)
    assert (customer.card_last4, customer.card_exp_month, customer.card_exp_year) == ("4242", 12, 2034)

    # A key, its secret shown once
    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("sizing")
    page.get_by_role("button", name="Create the key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your new API key")
    secret = page.locator("#secret").input_value()
    assert secret.startswith("crt_")
    page.get_by_role("link", name="I have copied it").click()
    expect(page.locator("table.keys")).to_contain_text("sizing")
    assert secret not in page.content()
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert ApiKey.objects.get(organisation=organisation).name == "sizing"

    # ... and the key sizes a segment over the API
    response = page.request.post(
        f"{url}/api/v1/segments/size/",
        headers={"Authorization": f"Api-Key {secret}"},
        data={"categories": ["demographics", "location"], "purpose": "targeted_advertising"},
    )
    assert response.status == 200, response.text()
    assert response.json()["count"] == 1, response.json()
