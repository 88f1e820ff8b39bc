"""A moderator's day in Chromium (issue 14): signs in with a second factor, verifies an
organisation added in the admin, rejects a listing (first without a reason: refused in place,
the form kept), suspends a buyer and sees the cascade on its bids and access grants, and finds
every one of those actions, with its reason, in the audit trail."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import BuyerOrganisation
from listings import services as listing_services
from listings.models import Listing
from marketplace import services as marketplace_services
from marketplace.models import AccessGrant, Bid, DeletionNotice
from tests.factories import ModeratorFactory, OrganisationFactory, totp_code
from tests.listings.conftest import make_seller
from tests.listings.test_listing_lifecycle import TERMS
from tests.marketplace.test_api_delivery import queued, small_k  # noqa: F401  (autouse fixtures)
from tests.marketplace.test_revocation import Market

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def act(page: Page, changelist: str, row_text: str, action: str, reason: str) -> None:
    """Tick the row, run the action, try it without a reason (the browser asks for one; blanks
    get past it, and the server refuses them in place, the form kept), then give one."""
    page.goto(changelist)
    page.get_by_role("row").filter(has_text=row_text).get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(action)
    page.get_by_role("button", name="Go").click()
    page.get_by_role("button", name="Confirm").click()  # no reason
    assert page.get_by_label("Reason").evaluate("field => field.validity.valueMissing")
    page.get_by_label("Reason").fill("   ")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Give a reason: every moderator action records why.")).to_be_visible()
    expect(page.locator("input[name=_selected_action]")).to_have_count(1)  # the form kept the row
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("1 updated.")).to_be_visible()


def test_a_moderator_verifies_rejects_suspends_and_finds_it_all_in_the_audit_trail(page: Page, live_server):
    url = live_server.url
    page.set_viewport_size({"width": 1280, "height": 800})
    moderator = ModeratorFactory()
    newcomer = OrganisationFactory(legal_name="Nouvel Annonceur SARL")  # added in the admin: unverified
    pending = listing_services.listing_create(seller=make_seller(), **TERMS)
    assert pending.status == Listing.Status.PENDING_REVIEW
    market = Market()  # holder: access grants to the data of the seller and a bystander
    holder = market.holder
    holder.legal_name = "Courtier Abusif SA"
    holder.save(update_fields=["legal_name"])
    marketplace_services.bid_place(
        organisation=holder, listing_public_id=market.device.public_id, amount_cents=12_000
    )
    grants = AccessGrant.objects.filter(organisation=holder, status="active").count()
    assert grants >= 2

    # Sign in: email, password and the authenticator's code
    page.goto(f"{url}/admin/login/")
    page.get_by_label("Email").fill(moderator.email)
    page.get_by_label("Password").fill("moderator-password")
    page.get_by_label("Code").fill(totp_code())
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Queues", exact=True)).to_be_visible()

    # Verify the organisation added in the admin (never asked through the API)
    act(
        page,
        f"{url}/admin/accounts/buyerorganisation/",
        "Nouvel Annonceur SARL",
        "verify",
        "Kbis and contacts checked by phone",
    )
    newcomer.refresh_from_db()
    assert newcomer.verification_status == BuyerOrganisation.Verification.VERIFIED

    # Reject the listing awaiting review, with a reason the seller will read
    act(
        page,
        f"{url}/admin/listings/listing/?status__exact=pending_review",
        str(pending.public_id),
        "reject",
        "The photo of an ID card is not data we sell",
    )
    pending.refresh_from_db()
    assert (pending.status, pending.status_reason) == (
        Listing.Status.DRAFT,
        "The photo of an ID card is not data we sell",
    )

    # Suspend the abusive buyer: its bids cancelled, its grants revoked with deletion notices
    act(
        page,
        f"{url}/admin/accounts/buyerorganisation/",
        "Courtier Abusif SA",
        "suspend",
        "Resold the data it bought",
    )
    page.goto(f"{url}/admin/marketplace/bid/?q=Courtier+Abusif")
    expect(page.get_by_role("row").filter(has_text="Cancelled")).to_have_count(1)
    page.goto(f"{url}/admin/marketplace/accessgrant/?q=Courtier+Abusif")
    expect(page.get_by_role("row").filter(has_text="Revoked")).to_have_count(grants)
    assert not Bid.objects.filter(organisation=holder, status=Bid.Status.OPEN).exists()
    assert not AccessGrant.objects.filter(organisation=holder, status="active").exists()
    assert DeletionNotice.objects.filter(organisation=holder, reason="suspended").exists()

    # Every action, with who and why, in the audit trail
    page.goto(f"{url}/admin/core/auditentry/?actor_role__exact=moderator")
    for action, reason in [
        ("organisation.verified", "Kbis and contacts checked by phone"),
        ("listing.rejected", "The photo of an ID card is not data we sell"),
        ("organisation.suspended", "Resold the data it bought"),
    ]:
        row = page.get_by_role("row").filter(has_text=action)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(reason)
        expect(row).to_contain_text(moderator.email)
