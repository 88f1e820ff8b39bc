"""End to end in Chromium: sign up, fill the profile, grant, see, revoke, switch to French."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import ConsentGrant, User
from tests.browser.menu import nav_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/courtier-consents.png"


def test_seller_signs_up_grants_and_revokes_consent_then_reads_french(page: Page, live_server):
    # Sign up
    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Email").fill("camille@example.test")
    page.get_by_label("Password", exact=True).fill("un mot de passe solide")
    page.get_by_label("Password again").fill("un mot de passe solide")
    page.get_by_label("Name").fill("Camille Durand")
    page.get_by_role("combobox", name="Language").select_option("en")
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")

    # Fill the profile
    page.get_by_label("Gender").select_option("female")
    page.get_by_label("Region").select_option(label="Auvergne-Rhône-Alpes")
    page.get_by_label("Mobile OS").select_option("ios")
    page.get_by_label("Mobile operator").select_option("orange")
    page.get_by_label("Travel").check()
    page.get_by_label("Cooking", exact=True).check()
    page.get_by_label("Podcasts").check()
    page.get_by_label("Birth date").fill("1990-05-17")
    page.get_by_label("Postcode").fill("69003")
    page.get_by_label("Mobile phone").fill("06 12 34 56 78")
    page.get_by_role("button", name="Save my profile").click()

    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")
    expect(page.get_by_label("Postcode")).to_have_value("69003")
    expect(page.get_by_label("Travel")).to_be_checked()

    # Grant a consent
    nav_link(page, "Consents").click()
    page.get_by_label("Data category", exact=True).select_option(label="Location (region, postcode)")
    page.get_by_label("Purpose", exact=True).select_option(label="Market research")
    page.get_by_label("For how long").select_option("180")
    page.get_by_role("button", name="Grant this consent").click()

    expect(page.get_by_role("status")).to_contain_text("Consent granted.")
    active = page.locator("ul.grants > li")
    expect(active).to_have_count(1)
    expect(active).to_contain_text("Location (region, postcode)")
    expect(active).to_contain_text("Market research")
    expect(active).to_contain_text("Active")
    expect(active).to_contain_text("180 days left")
    expect(page.locator('td[data-cell="location:market_research"]')).to_contain_text("Granted")

    # Revoke it, after the confirmation page
    active.get_by_role("link", name=re.compile("^Revoke")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke a consent")
    page.get_by_role("button", name="Yes, revoke this consent").click()

    expect(page.get_by_role("status")).to_contain_text("Consent revoked.")
    expect(page.locator("ul.grants")).to_have_count(0)
    expect(page.get_by_text("No active consent: none of your data can be sold.")).to_be_visible()
    history = page.locator("table.history tbody tr")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("Revoked")

    seller = User.objects.get(email="camille@example.test")
    assert list(ConsentGrant.objects.filter(seller=seller).values_list("status", flat=True)) == ["revoked"]

    # Switch to French
    page.get_by_role("button", name="Français").click()

    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Vos consentements")
    expect(page.locator("table.history tbody tr").first).to_contain_text("Retiré")

    # The sensitive category needs its own box, in French too
    page.get_by_label("Catégorie de données", exact=True).select_option("life_events")
    page.get_by_label("Finalité", exact=True).select_option("targeted_advertising")
    page.get_by_role("button", name="Donner ce consentement").click()
    expect(page.get_by_text("Les événements de vie sont sensibles : cochez la case")).to_be_visible()
    page.get_by_label(re.compile("Je consens explicitement")).check()
    page.get_by_role("button", name="Donner ce consentement").click()
    expect(page.get_by_role("status")).to_contain_text("Consentement donné.")
    expect(page.locator("ul.grants > li")).to_contain_text("Événements de vie (sensible)")

    page.screenshot(path=SCREENSHOT, full_page=True)
