"""Listings: created only under consent, moderated, paused by revocation in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ConsentGrant
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from listings import selectors, services
from listings.models import Listing, ListingEvent
from tests.conftest import staff_client
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db(transaction=True)

TERMS = {
    "categories": ["demographics", "location"],
    "purposes": ["targeted_advertising"],
    "licence_days": 90,
    "pricing_mode": "fixed",
    "floor_price_cents": 250,
}


def test_new_listing_waits_for_review_then_goes_live(consenting_seller, moderator):
    listing = services.listing_create(seller=consenting_seller, **TERMS)

    assert listing.status == Listing.Status.PENDING_REVIEW
    assert listing.categories == ["demographics", "location"] and listing.suggested_price_cents > 0
    assert not selectors.listings_for_buyers().exists()

    services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)

    assert list(selectors.listings_for_buyers()) == [listing]
    assert list(ListingEvent.objects.filter(listing=listing).values_list("to_status", flat=True)) == [
        "draft",
        "pending_review",
        "active",
    ]


def test_verified_sellers_are_auto_approved(settings):
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    seller = make_seller(verified=True)
    assert services.listing_create(seller=seller, **TERMS).status == Listing.Status.ACTIVE
    settings.LISTING_AUTO_APPROVE_VERIFIED = False
    assert (
        services.listing_create(seller=seller, **{**TERMS, "floor_price_cents": 300}).status
        == "pending_review"
    )


def test_rejection_needs_a_reason_and_returns_to_draft(consenting_seller, moderator):
    listing = services.listing_create(seller=consenting_seller, **TERMS)
    with pytest.raises(InvalidInput):
        services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=False)
    rejected = services.listing_moderate(
        listing_id=listing.pk, moderator=moderator, approve=False, reason="blurry"
    )
    assert rejected.status == "draft" and rejected.status_reason == "blurry"


def test_listing_without_consent_for_every_pair_is_refused(consenting_seller):
    with pytest.raises(InvalidInput) as exc:
        services.listing_create(
            seller=consenting_seller, **{**TERMS, "purposes": ["targeted_advertising", "market_research"]}
        )
    assert exc.value.code == "consent_missing" and "market_research" in exc.value.message
    assert not Listing.objects.exists()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"categories": ["shoe_size"]}, "category_unknown"),
        ({"categories": []}, "categories_required"),
        ({"purposes": ["resale"]}, "purpose_unknown"),
        ({"licence_days": 45}, "licence_invalid"),
        ({"floor_price_cents": -5}, "price_out_of_range"),
        ({"floor_price_cents": 0}, "price_out_of_range"),
        ({"floor_price_cents": 10**12}, "price_out_of_range"),
        ({"pricing_mode": "auction"}, "auction_end_invalid"),
        ({"pricing_mode": "barter"}, "pricing_mode_unknown"),
    ],
)
def test_bad_terms_change_nothing(consenting_seller, change, code):
    with pytest.raises(InvalidInput) as exc:
        services.listing_create(seller=consenting_seller, **{**TERMS, **change})
    assert exc.value.code == code
    assert not Listing.objects.exists()


def test_revocation_pauses_the_listing_in_the_same_transaction(consenting_seller, moderator):
    listing = services.listing_create(seller=consenting_seller, **TERMS)
    services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)
    grant = ConsentGrant.objects.get(seller=consenting_seller, category="location", status="active")

    account_services.consent_revoke(seller=consenting_seller, grant_id=grant.pk)

    listing.refresh_from_db()
    assert listing.status == Listing.Status.PAUSED and listing.status_reason == "consent revoked"
    revoked_at = ConsentGrant.objects.get(pk=grant.pk).ended_at
    paused_at = ListingEvent.objects.get(listing=listing, to_status="paused").occurred_at
    assert abs(paused_at - revoked_at) < timedelta(seconds=1)
    assert not selectors.listings_for_buyers().exists()
    with pytest.raises(Conflict):  # cannot resume without consent
        services.listing_seller_action(seller=consenting_seller, listing_id=listing.pk, to_status="active")


def test_expiry_sweep_pauses_listings_and_stale_ones_are_never_shown(consenting_seller, moderator):
    listing = services.listing_create(seller=consenting_seller, **TERMS)
    services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)
    shift = timedelta(days=91)
    grants = ConsentGrant.objects.filter(seller=consenting_seller)
    for grant in grants:
        ConsentGrant.objects.filter(pk=grant.pk).update(
            granted_at=grant.granted_at - shift, expires_at=grant.expires_at - shift
        )
    # the derived audience state as it was a second before the windows ended
    last_valid = ConsentGrant.objects.filter(seller=consenting_seller).earliest("expires_at").expires_at
    services.audience_refresh(seller_ids=[consenting_seller.pk], at=last_valid - timedelta(seconds=1))

    # before the sweep runs, the listing is still "active" in its row but never shown to buyers
    assert Listing.objects.get(pk=listing.pk).status == "active"
    assert not selectors.listings_for_buyers().exists()

    account_services.consent_expire_due()

    assert Listing.objects.get(pk=listing.pk).status == "paused"


def test_erasure_withdraws_every_listing(consenting_seller):
    listing = services.listing_create(seller=consenting_seller, **TERMS)
    account_services.seller_erase(seller=consenting_seller)
    assert Listing.objects.get(pk=listing.pk).status == "withdrawn"


def test_a_seller_cannot_touch_another_sellers_listing(consenting_seller):
    listing = services.listing_create(seller=consenting_seller, **TERMS)
    other = make_seller()
    with pytest.raises(NotFound):
        services.listing_seller_action(seller=other, listing_id=listing.pk, to_status="withdrawn")
    with pytest.raises(NotFound):
        services.listing_update_terms(seller=other, listing_id=listing.pk, floor_price_cents=1)
    assert Listing.objects.get(pk=listing.pk).floor_price_cents == 250


def test_seller_actions_and_moderator_suspension(consenting_seller, moderator):
    listing = services.listing_create(seller=consenting_seller, **TERMS)
    services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)
    services.listing_seller_action(seller=consenting_seller, listing_id=listing.pk, to_status="paused")
    services.listing_seller_action(seller=consenting_seller, listing_id=listing.pk, to_status="active")
    with pytest.raises(Forbidden):
        services.listing_suspend(listing_id=listing.pk, moderator=consenting_seller, reason="x")
    services.listing_suspend(listing_id=listing.pk, moderator=moderator, reason="fake data")
    with pytest.raises(Conflict):
        services.listing_seller_action(seller=consenting_seller, listing_id=listing.pk, to_status="active")
    services.listing_seller_action(seller=consenting_seller, listing_id=listing.pk, to_status="withdrawn")
    with pytest.raises(Conflict):
        services.listing_seller_action(seller=consenting_seller, listing_id=listing.pk, to_status="paused")


def test_auction_listing_needs_a_sane_end(consenting_seller):
    ends = timezone.now() + timedelta(days=3)
    listing = services.listing_create(
        seller=consenting_seller, **{**TERMS, "pricing_mode": "auction", "auction_ends_at": ends}
    )
    assert listing.auction_ends_at == ends


def test_moderators_approve_and_reject_in_bulk_from_the_admin(client, moderator):
    staff_client(moderator, client)  # signed in, second factor passed
    listings = [services.listing_create(seller=make_seller(), **TERMS) for _ in range(3)]
    url = "/admin/listings/listing/"

    selected = [listings[0].pk, listings[1].pk]
    asked = client.post(url, {"action": "approve", "_selected_action": selected})
    assert asked.status_code == 200 and b"reason" in asked.content  # every action asks why
    client.post(url, {"action": "approve", "_selected_action": selected, "apply": "1", "reason": "checked"})
    form = client.post(url, {"action": "reject", "_selected_action": [listings[2].pk]})
    assert form.status_code == 200 and b"reason" in form.content
    client.post(
        url, {"action": "reject", "_selected_action": [listings[2].pk], "apply": "1", "reason": "duplicate"}
    )

    assert [Listing.objects.get(pk=listing.pk).status for listing in listings] == [
        "active",
        "active",
        "draft",
    ]
    assert Listing.objects.get(pk=listings[2].pk).status_reason == "duplicate"
    assert client.get(url).status_code == 200
    assert client.get(f"{url}{listings[0].pk}/change/").status_code == 200
