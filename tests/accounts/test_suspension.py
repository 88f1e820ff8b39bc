"""Suspension by a moderator (issue 14), from the admin, with a reason.

A suspended seller cannot sign in (their sessions close), their listings are withdrawn and the
bids on them cancelled; consent is untouched. A suspended organisation's open bids are
cancelled, its access grants revoked with one deletion notice per seller, and a new bid is 403
`organisation_suspended`. Reinstating lifts the block; what was withdrawn or revoked stays so.
Payouts held while suspended: tests/payments/test_payout_hold.py."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ConsentGrant, User
from core.models import AuditEntry
from listings import services as listing_services
from listings.models import Listing
from marketplace import services
from marketplace.models import AccessGrant, Bid, DeletionNotice, Trade, TradeLine
from tests.factories import ModeratorFactory, PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import (  # noqa: F401  (queued, small_k: autouse fixtures)
    audience_sellers,
    bundle_trade,
    deliver,
    queued,
    small_k,
)

pytestmark = pytest.mark.django_db(transaction=True)
USERS = "/admin/accounts/user/"
ORGANISATIONS = "/admin/accounts/buyerorganisation/"
PASSWORD = "correct horse battery staple"  # tests.factories.SellerFactory


def act(client, url: str, action: str, obj, reason: str = "Repeated complaints"):
    return client.post(
        url, {"action": action, "_selected_action": [obj.pk], "apply": "1", "reason": reason}, follow=True
    )


def statuses(model, rows) -> list[str]:
    return list(
        model.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk").values_list("status", flat=True)
    )


# --- Sellers ---------------------------------------------------------------------------------------


def test_a_suspended_seller_cannot_sign_in_and_their_listings_are_withdrawn(
    client, moderator_client, moderator
):
    seller = make_seller()
    auction = active_listing(seller=seller)
    paused = active_listing(seller=seller, pricing_mode="fixed")
    listing_services.listing_seller_action(seller=seller, listing_id=paused.pk, to_status="paused")
    bidder = PayingOrganisationFactory()
    bid = services.bid_place(organisation=bidder, listing_public_id=auction.public_id, amount_cents=1500)
    other_listing = active_listing()
    consents = list(ConsentGrant.objects.filter(seller=seller).values_list("pk", "status"))
    seller_browser = client
    seller_browser.force_login(seller)

    act(moderator_client, USERS, "suspend", seller)

    seller.refresh_from_db()
    assert seller.suspended_at is not None and not seller.is_active
    assert (seller.suspended_reason, seller.suspended_by) == ("Repeated complaints", moderator)
    assert statuses(Listing, [auction, paused]) == ["withdrawn", "withdrawn"]
    assert statuses(Listing, [other_listing]) == ["active"]
    assert statuses(Bid, [bid]) == ["cancelled"]
    # consent untouched
    assert list(ConsentGrant.objects.filter(seller=seller).values_list("pk", "status")) == consents
    # the open session is closed, and signing in again is refused
    assert seller_browser.get(reverse("seller-sales")).status_code == 302
    login = client.post(reverse("login"), {"username": seller.email, "password": PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get(action="user.suspended")
    assert (entry.actor, entry.reason, entry.target_id) == (moderator, "Repeated complaints", str(seller.pk))

    act(moderator_client, USERS, "reinstate", seller, reason="Explained themselves")

    seller.refresh_from_db()
    assert seller.is_active and seller.suspended_at is None and seller.suspended_by is None
    assert statuses(Listing, [auction, paused]) == ["withdrawn", "withdrawn"]  # the seller relists
    assert client.post(reverse("login"), {"username": seller.email, "password": PASSWORD}).status_code == 302
    assert AuditEntry.objects.get(action="user.reinstated").reason == "Explained themselves"


def test_suspending_without_a_reason_changes_nothing(moderator_client):
    seller = make_seller()
    listing = active_listing(seller=seller)

    page = act(moderator_client, USERS, "suspend", seller, reason="")

    assert page.status_code == 200 and b"Give a reason" in page.content
    seller.refresh_from_db()
    assert seller.is_active and seller.suspended_at is None
    assert (
        statuses(Listing, [listing]) == ["active"]
        and not AuditEntry.objects.filter(action="user.suspended").exists()
    )


def test_staff_and_already_suspended_accounts_answer_an_error_per_account(moderator_client):
    other_moderator = ModeratorFactory()
    seller = make_seller()
    act(moderator_client, USERS, "suspend", seller)

    page = moderator_client.post(
        USERS,
        {
            "action": "suspend",
            "_selected_action": [other_moderator.pk, seller.pk],
            "apply": "1",
            "reason": "x",
        },
        follow=True,
    )

    text = page.content.decode()
    assert "Staff accounts are not suspended" in text and "already suspended" in text
    other_moderator.refresh_from_db()
    assert other_moderator.is_active
    assert AuditEntry.objects.filter(action="user.suspended").count() == 1
    assert User.objects.filter(pk=seller.pk).exists()  # nothing deleted


# --- Buyer organisations ---------------------------------------------------------------------------


def test_a_suspended_organisation_loses_its_bids_and_grants_and_cannot_bid(
    moderator_client, moderator, api_client_for
):
    organisation = PayingOrganisationFactory()
    bystander = PayingOrganisationFactory()
    listing = active_listing()
    bid = services.bid_place(
        organisation=organisation, listing_public_id=listing.public_id, amount_cents=1500
    )
    other_bid = services.bid_place(
        organisation=bystander, listing_public_id=listing.public_id, amount_cents=1500
    )
    sellers = audience_sellers(2)
    grants = deliver(bundle_trade(organisation, records=2))
    bystander_grants = deliver(bundle_trade(bystander, records=2))
    trades_before = list(Trade.objects.order_by("pk").values_list("pk", "status"))
    lines_before = TradeLine.objects.count()

    act(moderator_client, ORGANISATIONS, "suspend", organisation, reason="Resold data")

    organisation.refresh_from_db()
    assert organisation.is_suspended and organisation.suspended_by == moderator
    assert statuses(Bid, [bid, other_bid]) == ["cancelled", "open"]
    assert set(statuses(AccessGrant, grants)) == {"revoked"}
    assert set(statuses(AccessGrant, bystander_grants)) == {"active"}
    notices = DeletionNotice.objects.filter(organisation=organisation).order_by("seller_id")
    assert [(n.seller_id, n.reason, n.status) for n in notices] == [
        (seller.pk, "suspended", "sent") for seller in sorted(sellers, key=lambda s: s.pk)
    ]
    assert not DeletionNotice.objects.filter(organisation=bystander).exists()
    # trades stay on the books
    assert list(Trade.objects.order_by("pk").values_list("pk", "status")) == trades_before
    assert TradeLine.objects.count() == lines_before
    assert AuditEntry.objects.get(action="organisation.suspended").reason == "Resold data"

    api = api_client_for(organisation)
    refused = api.post(
        "/api/v1/bids/", {"listing": str(listing.public_id), "amount_cents": 2000}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "organisation_suspended"
    assert not Bid.objects.filter(organisation=organisation, status="open").exists()
    # it still reads its deletion notices, to wind down
    assert api.get("/api/v1/deletion-notices/").status_code == 200

    act(moderator_client, ORGANISATIONS, "reinstate", organisation, reason="Audit passed")

    organisation.refresh_from_db()
    assert not organisation.is_suspended
    assert set(statuses(AccessGrant, grants)) == {"revoked"}  # revoked stays revoked
    again = api.post(
        "/api/v1/bids/", {"listing": str(listing.public_id), "amount_cents": 2000}, format="json"
    )
    assert again.status_code == 201, again.content


def test_suspending_an_organisation_twice_is_an_error_and_changes_nothing_more(moderator):
    organisation = PayingOrganisationFactory()
    account_services.organisation_suspend(organisation_id=organisation.pk, moderator=moderator, reason="x")
    from core.errors import Conflict

    with pytest.raises(Conflict):
        account_services.organisation_suspend(
            organisation_id=organisation.pk, moderator=moderator, reason="y"
        )
    with pytest.raises(Conflict):
        account_services.organisation_reinstate(
            organisation_id=PayingOrganisationFactory().pk, moderator=moderator, reason="z"
        )
    assert AuditEntry.objects.filter(action="organisation.suspended").count() == 1


def test_what_a_suspended_organisation_bought_and_was_not_delivered_is_voided(moderator):
    """Its unsettled purchases lose their pending lines at once; one bought as it was being
    suspended (here: written after the cascade ran) is voided when settlement delivers."""
    from marketplace import settlement

    organisation = PayingOrganisationFactory()
    audience_sellers(2)
    pending = bundle_trade(organisation, records=2)
    account_services.organisation_suspend(
        organisation_id=organisation.pk, moderator=moderator, reason="Fraud"
    )

    assert set(TradeLine.objects.filter(trade=pending).values_list("status", "status_reason")) == {
        ("voided", "organisation suspended")
    }
    # a purchase that escaped the cascade (placed in the same instant) delivers nothing either
    organisation.refresh_from_db()
    saved, organisation.suspended_at = organisation.suspended_at, None
    organisation.save(update_fields=["suspended_at"])
    late = bundle_trade(organisation, records=2)
    organisation.suspended_at = saved
    organisation.save(update_fields=["suspended_at"])
    Trade.objects.filter(pk=late.pk).update(status=Trade.Status.PAID)
    batch = settlement.SettlementBatch.objects.create(organisation=organisation)
    Trade.objects.filter(pk=late.pk).update(batch=batch)
    settlement._deliver(batch)

    late.refresh_from_db()
    assert (late.status, late.status_reason) == (Trade.Status.VOIDED, "organisation suspended")
    assert set(TradeLine.objects.filter(trade=late).values_list("status", "status_reason")) == {
        ("voided", "organisation suspended")
    }
    assert not AccessGrant.objects.filter(organisation=organisation).exists()
