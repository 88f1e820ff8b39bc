"""Revocation reaches buyers: when a seller revokes a consent, when it expires, or when the seller
is erased, the same transaction cancels open bids on the affected listings, voids unsettled trade
lines, revokes access grants and sends one deletion notice per buyer organisation that received
the data. Buyers list and acknowledge notices through the API; overdue ones are flagged."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ConsentEvent, ConsentGrant, SellerDataKey
from core.errors import Conflict
from listings import services as listing_services
from listings.models import Listing
from marketplace import services
from marketplace.models import AccessGrant, Bid, DeletionNotice, TradeLine
from tests.factories import ModeratorFactory, PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import (  # noqa: F401  (queued, small_k: autouse fixtures)
    audience_sellers,
    bundle_trade,
    consent_of,
    deliver,
    queued,
    small_k,
)

pytestmark = pytest.mark.django_db(transaction=True)
PURPOSE = "targeted_advertising"


def listing_of(seller, categories, *, pricing_mode="auction", floor=1000) -> Listing:
    listing = listing_services.listing_create(
        seller=seller,
        categories=categories,
        purposes=[PURPOSE],
        licence_days=30,
        pricing_mode=pricing_mode,
        floor_price_cents=floor,
        auction_ends_at=timezone.now() + timedelta(hours=2) if pricing_mode == "auction" else None,
    )
    return listing_services.listing_moderate(
        listing_id=listing.pk, moderator=ModeratorFactory(), approve=True
    )


class Market:
    """A seller S and a bystander T, with everything a revocation by S must reach, and must not.

    - listing `located` (demographics + location, auction) with open bids from bidder_1, bidder_2
    - listing `device` (device, auction) with an open bid from bidder_1
    - a pending (unsettled) purchase by `pending_buyer` of S's location listing
    - a pending purchase by `pending_buyer` of S's demographics-only listing
    - delivered bundles of S and T: two to `holder` (two grants on S), one to `other_holder`
    """

    def __init__(self) -> None:
        self.bidder_1, self.bidder_2, self.pending_buyer, self.holder, self.other_holder = (
            PayingOrganisationFactory() for _ in range(5)
        )
        self.seller = make_seller(categories=("demographics", "location", "device"))
        self.bystander = make_seller(categories=("demographics", "location", "device"))
        for seller in (self.seller, self.bystander):
            listing_services.audience_optin_update(seller=seller, categories=["demographics", "location"])
        self.located = listing_of(self.seller, ["demographics", "location"], floor=10_000)
        self.device = listing_of(self.seller, ["device"], floor=10_000)
        self.located_bids = [
            services.bid_place(
                organisation=org, listing_public_id=self.located.public_id, amount_cents=10_000
            )
            for org in (self.bidder_1, self.bidder_2)
        ]
        self.device_bid = services.bid_place(
            organisation=self.bidder_1, listing_public_id=self.device.public_id, amount_cents=10_000
        )
        self.grants = []
        for org in (self.holder, self.holder, self.other_holder):
            self.grants += deliver(bundle_trade(org, records=2))
        self.pending_location = self._buy_now(["location"])
        self.pending_demographics = self._buy_now(["demographics"])

    def _buy_now(self, categories) -> TradeLine:
        listing = listing_of(self.seller, categories, pricing_mode="fixed", floor=50_000)
        bid = services.bid_place(organisation=self.pending_buyer, listing_public_id=listing.public_id)
        return TradeLine.objects.get(trade__bid=bid)

    def grants_of(self, seller) -> list[AccessGrant]:
        return [g for g in AccessGrant.objects.order_by("pk") if g.seller_id == seller.pk]


def statuses(model, rows) -> list[str]:
    return list(
        model.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk").values_list("status", flat=True)
    )


def test_a_revocation_reaches_bids_lines_grants_and_buyers(settings):
    settings.DELETION_NOTICE_DAYS = 7
    market = Market()
    seller = market.seller
    revoked = consent_of(seller, "location")

    account_services.consent_revoke(seller=seller, grant_id=revoked.pk)
    revoked.refresh_from_db()

    # open bids on the listing that needs the consent: cancelled, with their event
    assert statuses(Bid, market.located_bids) == ["cancelled", "cancelled"]
    assert all(
        b.events.last().reason == "seller consent revoked" for b in Bid.objects.filter(listing=market.located)
    )
    assert Listing.objects.get(pk=market.located.pk).status == Listing.Status.PAUSED
    # ... but not the bid on the device listing, which needs no location consent
    assert statuses(Bid, [market.device_bid]) == ["open"]
    assert Listing.objects.get(pk=market.device.pk).status == Listing.Status.ACTIVE
    # unsettled lines selling location: voided; the demographics-only purchase stands
    location_line = TradeLine.objects.get(pk=market.pending_location.pk)
    assert (location_line.status, location_line.status_reason) == ("voided", "consent revoked")
    assert statuses(TradeLine, [market.pending_demographics]) == ["pending"]
    # every access grant to the seller's location data: revoked; the bystander's: untouched
    seller_grants = AccessGrant.objects.filter(seller=seller)
    assert {(g.status, g.revoked_reason) for g in seller_grants} == {("revoked", "consent revoked")}
    assert all(abs(g.revoked_at - revoked.ended_at) < timedelta(seconds=5) for g in seller_grants)
    assert len(market.grants_of(seller)) == 3
    assert set(statuses(AccessGrant, market.grants_of(market.bystander))) == {"active"}
    # one notice per organisation that received the data, with the deadline from the settings
    notices = DeletionNotice.objects.order_by("organisation_id")
    assert [(n.organisation_id, n.seller_id, n.categories, n.reason, n.status) for n in notices] == [
        (market.holder.pk, seller.pk, ["demographics", "location"], "revoked", "sent"),
        (market.other_holder.pk, seller.pk, ["demographics", "location"], "revoked", "sent"),
    ]
    assert all(n.deadline == n.created_at + timedelta(days=7) for n in notices)
    assert abs(notices[0].created_at - revoked.ended_at) < timedelta(seconds=5)


def test_the_cascade_runs_in_the_revoking_transaction(monkeypatch):
    market = Market()
    revoked = consent_of(market.seller, "location")

    def notices_fail(*args, **kwargs):
        raise RuntimeError("the notice insert failed")

    monkeypatch.setattr(DeletionNotice.objects, "bulk_create", notices_fail)
    with pytest.raises(RuntimeError):
        account_services.consent_revoke(seller=market.seller, grant_id=revoked.pk)
    monkeypatch.undo()

    # the failure in the last step undid everything: the consent and every step before it
    assert ConsentGrant.objects.get(pk=revoked.pk).status == ConsentGrant.Status.ACTIVE
    assert not ConsentEvent.objects.filter(grant=revoked, kind="revoked").exists()
    assert Listing.objects.get(pk=market.located.pk).status == Listing.Status.ACTIVE
    assert statuses(Bid, market.located_bids) == ["open", "open"]
    assert statuses(TradeLine, [market.pending_location]) == ["pending"]
    assert set(statuses(AccessGrant, market.grants)) == {"active"}
    assert not DeletionNotice.objects.exists()


def test_consent_expiry_sweep_takes_the_same_path():
    market = Market()
    seller = market.seller
    expiring = consent_of(seller, "location")
    past = timezone.now() - timedelta(minutes=1)
    ConsentGrant.objects.filter(pk=expiring.pk).update(granted_at=past - timedelta(days=90), expires_at=past)

    assert account_services.consent_expire_due() == 1

    assert statuses(Bid, market.located_bids) == ["cancelled", "cancelled"]
    assert Bid.objects.get(pk=market.located_bids[0].pk).events.last().reason == "seller consent expired"
    assert statuses(Bid, [market.device_bid]) == ["open"]
    assert TradeLine.objects.get(pk=market.pending_location.pk).status_reason == "consent expired"
    assert statuses(TradeLine, [market.pending_demographics]) == ["pending"]
    assert {(g.status, g.revoked_reason) for g in AccessGrant.objects.filter(seller=seller)} == {
        ("revoked", "consent expired")
    }
    assert sorted(DeletionNotice.objects.values_list("organisation_id", "reason")) == [
        (market.holder.pk, "expired"),
        (market.other_holder.pk, "expired"),
    ]
    assert account_services.consent_expire_due() == 0  # nothing twice
    assert DeletionNotice.objects.count() == 2


def test_erasure_reaches_every_buyer_and_the_data_is_gone(api_client_for):
    market = Market()
    seller = market.seller
    holder_grants = [g for g in market.grants_of(seller) if g.organisation_id == market.holder.pk]
    client = api_client_for(market.holder)

    account_services.seller_erase(seller=seller)

    assert Bid.objects.filter(listing__seller=seller, status="open").count() == 0
    assert statuses(Bid, [market.device_bid]) == ["cancelled"]
    assert statuses(TradeLine, [market.pending_location, market.pending_demographics]) == ["voided", "voided"]
    assert {(g.status, g.revoked_reason) for g in AccessGrant.objects.filter(seller=seller)} == {
        ("revoked", "consent erasure")
    }
    assert sorted(DeletionNotice.objects.values_list("organisation_id", "reason")) == [
        (market.holder.pk, "erasure"),
        (market.other_holder.pk, "erasure"),
    ]
    # every listing withdrawn, those held for a pending purchase too (their lines are voided)
    assert set(Listing.objects.filter(seller=seller).values_list("status", flat=True)) == {"withdrawn"}
    assert SellerDataKey.objects.get(seller=seller).wrapped_key is None
    for grant in holder_grants:
        assert client.get(f"/api/v1/access-grants/{grant.public_id}/").status_code == 410
    # the bystander's data is still served to the same buyer
    (bystander_grant, *_) = [
        g for g in market.grants_of(market.bystander) if g.organisation_id == market.holder.pk
    ]
    assert client.get(f"/api/v1/access-grants/{bystander_grant.public_id}/").status_code == 200


def test_renewing_a_consent_reaches_nobody():
    market = Market()

    account_services.consent_renew(
        seller=market.seller, grant_id=consent_of(market.seller, "location").pk, window_days=180
    )

    assert statuses(Bid, market.located_bids) == ["open", "open"]
    assert statuses(TradeLine, [market.pending_location]) == ["pending"]
    assert set(statuses(AccessGrant, market.grants)) == {"active"}
    assert not DeletionNotice.objects.exists()


def test_bids_racing_a_revocation_never_stay_open_on_the_paused_listing():
    listing = active_listing(floor=1000)
    bidders = [PayingOrganisationFactory() for _ in range(8)]
    revoked = consent_of(listing.seller, "location")
    barrier = threading.Barrier(len(bidders) + 1)
    refused: list[str] = []

    def bid(organisation):
        try:
            barrier.wait()
            services.bid_place(
                organisation=organisation, listing_public_id=listing.public_id, amount_cents=1000
            )
        except Conflict as exc:
            refused.append(exc.code)
        finally:
            connection.close()

    def revoke():
        try:
            barrier.wait()
            account_services.consent_revoke(seller=listing.seller, grant_id=revoked.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=bid, args=(o,)) for o in bidders] + [threading.Thread(target=revoke)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.PAUSED
    assert not Bid.objects.filter(listing=listing, status="open").exists()
    assert Bid.objects.filter(listing=listing, status="cancelled").count() + len(refused) == len(bidders)
    assert set(refused) <= {"listing_not_open"}


# ---------------------------------------------------------------------------------------------
# Deletion notices through the API
# ---------------------------------------------------------------------------------------------


def test_buyers_list_and_acknowledge_notices_and_overdue_ones_are_flagged(api_client_for):
    buyer, bystander_buyer = PayingOrganisationFactory(), PayingOrganisationFactory()
    leaving, late, staying = audience_sellers(3)
    deliver(bundle_trade(buyer, records=3))
    deliver(bundle_trade(bystander_buyer, records=3))
    for seller in (leaving, late):
        account_services.consent_revoke(seller=seller, grant_id=consent_of(seller, "demographics").pk)
    client = api_client_for(buyer)
    notices = {n.seller_id: n for n in DeletionNotice.objects.filter(organisation=buyer)}

    listed = client.get("/api/v1/deletion-notices/").json()["results"]
    assert sorted(n["id"] for n in listed) == sorted(str(n.public_id) for n in notices.values())
    assert {n["status"] for n in listed} == {"sent"} and {n["reason"] for n in listed} == {"revoked"}

    acknowledged = client.post(
        f"/api/v1/deletion-notices/{notices[leaving.pk].public_id}/acknowledge/", HTTP_IDEMPOTENCY_KEY="ack-1"
    )
    replayed = client.post(
        f"/api/v1/deletion-notices/{notices[leaving.pk].public_id}/acknowledge/", HTTP_IDEMPOTENCY_KEY="ack-1"
    )
    twice = client.post(f"/api/v1/deletion-notices/{notices[leaving.pk].public_id}/acknowledge/")
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_at"] is not None
    assert replayed.json() == acknowledged.json()
    assert (twice.status_code, twice.json()["code"]) == (409, "already_acknowledged")

    # the deadline passes: the one not acknowledged becomes overdue, and is still acknowledgeable
    after_deadline = notices[late.pk].deadline + timedelta(seconds=1)
    assert services.deletion_notices_flag_overdue(now=after_deadline) == 3  # ours, the other buyer's two
    overdue = client.get("/api/v1/deletion-notices/?status=overdue").json()["results"]
    assert [n["id"] for n in overdue] == [str(notices[late.pk].public_id)]
    assert DeletionNotice.objects.get(pk=notices[leaving.pk].pk).status == "acknowledged"
    late_ack = client.post(f"/api/v1/deletion-notices/{notices[late.pk].public_id}/acknowledge/")
    assert late_ack.status_code == 200 and late_ack.json()["status"] == "acknowledged"
    assert services.deletion_notices_flag_overdue(now=after_deadline) == 0
    assert client.get("/api/v1/deletion-notices/?status=bogus").status_code == 400
    assert staying.pk not in notices
