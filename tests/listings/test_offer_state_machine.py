"""What a seller offers is derived in one place: a stateful test.

Random sequences of everything that changes what sellers offer (listings created, auto-approved,
approved, paused, resumed, withdrawn, suspended, bought and held, sold, released after a failed
payment, expired; audience opt-ins; consent granted, renewed, revoked, expired; erasure). After
every step each seller's derived state (SellerProfile.sellable_mask / sellable_until) must equal
a full recomputation written here from the rows, independently of the product's code, and the
buyer API must answer what that state says: browse, detail (200 or 404) and segment size.

CI runs a fixed seed (profile "ci"); `HYPOTHESIS_PROFILE=long make test PYTEST_ARGS=tests/listings/
test_offer_state_machine.py` runs many more examples.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts import services as account_services
from accounts import taxonomy
from accounts.models import ConsentGrant, SellerProfile, User
from core.errors import ServiceError
from listings import services as listing_services
from listings.models import Listing
from marketplace import services as market_services
from marketplace.models import Trade
from tests.factories import ModeratorFactory, PayingOrganisationFactory
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db(transaction=True)

hsettings.register_profile(
    "ci",
    max_examples=12,
    stateful_step_count=18,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
hsettings.register_profile(
    "long",
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

CATEGORIES = ["demographics", "location", "device"]
PURPOSES = ["targeted_advertising", "ad_measurement"]
SEGMENTS = [(["demographics"], "targeted_advertising"), (["location", "device"], "ad_measurement")]
STATUS_MOVES = {
    "pause": Listing.Status.PAUSED,
    "resume": Listing.Status.ACTIVE,
    "withdraw": Listing.Status.WITHDRAWN,
}


def recomputed(seller_id: int, now) -> tuple[int, object]:
    """(sellable pairs, earliest end of their consents) from the rows, as the rule says: what
    the seller offers (audience opt-ins for every purpose, active listings' pairs; nothing once
    deactivated) and holds valid consent for now."""
    user = User.objects.get(pk=seller_id)
    profile = SellerProfile.objects.get(seller_id=seller_id)
    offered: set[tuple[str, str]] = set()
    if user.is_active:
        for category in taxonomy.codes_of(profile.audience_optin_mask, taxonomy.CATEGORY_CODES):
            offered |= {(category, purpose) for purpose in taxonomy.PURPOSE_CODES}
        for listing in Listing.objects.filter(seller_id=seller_id, status=Listing.Status.ACTIVE):
            offered |= {(c, p) for c in listing.categories for p in listing.purposes}
    mask, until = 0, None
    for grant in ConsentGrant.objects.filter(seller_id=seller_id, status="active"):
        valid = grant.granted_at <= now < grant.expires_at and (
            grant.ended_at is None or grant.ended_at > now
        )
        if valid and (grant.category, grant.purpose) in offered:
            mask |= taxonomy.pair_bit(grant.category, grant.purpose)
            until = grant.expires_at if until is None else min(until, grant.expires_at)
    return mask, until


class OfferMachine(RuleBasedStateMachine):
    api_client_for = None  # set by the test: the fixture
    moderator = None

    def __init__(self) -> None:
        super().__init__()
        self.sellers: list[User] = []
        self.listings: list[int] = []
        self.buyer = PayingOrganisationFactory()  # one per example: sizing is throttled per buyer
        self.client = OfferMachine.api_client_for(self.buyer)

    def teardown(self) -> None:
        # out of the way of the next example: its sellers are the only ones the API may show
        ids = [s.pk for s in self.sellers]
        SellerProfile.objects.filter(seller_id__in=ids).update(sellable_mask=0, sellable_until=None)
        Listing.objects.filter(seller_id__in=ids).update(status=Listing.Status.WITHDRAWN)

    # --- the operations ------------------------------------------------------------------

    @precondition(lambda self: len(self.sellers) < 3)
    @rule(verified=st.booleans(), categories=st.sets(st.sampled_from(CATEGORIES), min_size=1))
    def new_seller(self, verified, categories):
        self.sellers.append(make_seller(categories=sorted(categories), purposes=PURPOSES, verified=verified))

    def _seller(self, data) -> User:
        seller = data.draw(st.sampled_from(self.sellers))
        seller.refresh_from_db()
        return seller

    def _listing(self, data) -> Listing:
        return Listing.objects.get(pk=data.draw(st.sampled_from(self.listings)))

    def _attempt(self, operation, *args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except ServiceError:
            return None  # refused (no consent, a move not allowed, ...): nothing changed

    @precondition(lambda self: self.sellers)
    @rule(
        data=st.data(),
        categories=st.sets(st.sampled_from(CATEGORIES), min_size=1, max_size=2),
        purposes=st.sets(st.sampled_from(PURPOSES), min_size=1),
        auction=st.booleans(),
    )
    def list_data(self, data, categories, purposes, auction):
        listing = self._attempt(
            listing_services.listing_create,
            seller=self._seller(data),
            categories=sorted(categories),
            purposes=sorted(purposes),
            licence_days=30,
            pricing_mode="auction" if auction else "fixed",
            floor_price_cents=500,
            auction_ends_at=timezone.now() + timedelta(hours=2) if auction else None,
        )
        if listing is not None:
            self.listings.append(listing.pk)

    @precondition(lambda self: self.listings)
    @rule(data=st.data(), approve=st.booleans())
    def moderate(self, data, approve):
        self._attempt(
            listing_services.listing_moderate,
            listing_id=self._listing(data).pk,
            moderator=self.moderator,
            approve=approve,
            reason="" if approve else "blurry",
        )

    @precondition(lambda self: self.listings)
    @rule(data=st.data(), move=st.sampled_from(sorted(STATUS_MOVES)))
    def seller_moves(self, data, move):
        listing = self._listing(data)
        self._attempt(
            listing_services.listing_seller_action,
            seller=listing.seller,
            listing_id=listing.pk,
            to_status=STATUS_MOVES[move],
        )

    @precondition(lambda self: self.listings)
    @rule(data=st.data())
    def suspend(self, data):
        self._attempt(
            listing_services.listing_suspend,
            listing_id=self._listing(data).pk,
            moderator=self.moderator,
            reason="abuse report",
        )

    @precondition(lambda self: self.listings)
    @rule(data=st.data())
    def buy(self, data):
        listing = self._listing(data)
        self._attempt(
            market_services.bid_place,
            organisation=self.buyer,
            listing_public_id=listing.public_id,
            amount_cents=None if listing.pricing_mode == "fixed" else 600,
        )

    @rule()
    def auctions_close(self):
        market_services.auctions_close_due(now=timezone.now() + timedelta(hours=3))

    @precondition(lambda self: self.listings)
    @rule(data=st.data(), paid=st.booleans())
    def payment_outcome(self, data, paid):
        """What settlement does to a held listing's trade: settled (sold) or failed (released)."""
        listing = self._listing(data)
        with transaction.atomic():
            trades = list(
                Trade.objects.select_for_update().filter(listing=listing, status=Trade.Status.PENDING_PAYMENT)
            )
            if not trades:
                return
            if paid:
                (held,) = Listing.objects.select_for_update().filter(pk=listing.pk) or [None]
                Trade.objects.filter(pk__in=[t.pk for t in trades]).update(status=Trade.Status.SETTLED)
                listing_services.listings_sold_locked([held.pk], reason="sold")
            else:
                market_services.trades_transition(trades, Trade.Status.PAYMENT_FAILED, "declined")

    @precondition(lambda self: self.sellers)
    @rule(data=st.data(), categories=st.sets(st.sampled_from(CATEGORIES)))
    def audience_optin(self, data, categories):
        self._attempt(
            listing_services.audience_optin_update, seller=self._seller(data), categories=sorted(categories)
        )

    @precondition(lambda self: self.sellers)
    @rule(data=st.data(), category=st.sampled_from(CATEGORIES), purpose=st.sampled_from(PURPOSES))
    def consent_grant(self, data, category, purpose):
        self._attempt(
            account_services.consent_grant,
            seller=self._seller(data),
            category=category,
            purpose=purpose,
            window_days=30,
        )

    def _grant(self, data) -> ConsentGrant | None:
        seller = self._seller(data)
        grants = list(ConsentGrant.objects.filter(seller=seller, status="active").order_by("pk"))
        return data.draw(st.sampled_from(grants)) if grants else None

    @precondition(lambda self: self.sellers)
    @rule(data=st.data(), how=st.sampled_from(["renew", "revoke", "expire"]))
    def consent_change(self, data, how):
        grant = self._grant(data)
        if grant is None:
            return
        if how == "renew":
            self._attempt(
                account_services.consent_renew, seller=grant.seller, grant_id=grant.pk, window_days=90
            )
        elif how == "revoke":
            self._attempt(account_services.consent_revoke, seller=grant.seller, grant_id=grant.pk)
        else:  # the window ends now; the sweep runs (the reads already stop at the end)
            now = timezone.now()
            ConsentGrant.objects.filter(pk=grant.pk).update(
                granted_at=now - timedelta(days=30), expires_at=now - timedelta(microseconds=1)
            )
            account_services.consent_expire_due()

    @precondition(lambda self: self.sellers)
    @rule(data=st.data())
    def erase(self, data):
        self._attempt(account_services.seller_erase, seller=self._seller(data))

    # --- what must hold after every step ---------------------------------------------------

    @invariant()
    def derived_state_is_a_full_recomputation(self):
        now = timezone.now()
        for seller in self.sellers:
            profile = SellerProfile.objects.get(seller=seller)
            assert (profile.sellable_mask, profile.sellable_until) == recomputed(seller.pk, now), seller.pk

    @invariant()
    def buyers_see_what_the_state_says(self):
        now = timezone.now()
        visible = {
            str(public_id)
            for public_id in Listing.objects.filter(
                pk__in=self.listings, status=Listing.Status.ACTIVE, seller__is_active=True
            ).values_list("public_id", flat=True)
        }
        rows = self.client.get("/api/v1/listings/?page_size=200").json()["results"]
        assert {row["id"] for row in rows} == visible
        for listing in Listing.objects.filter(pk__in=self.listings):
            answer = self.client.get(f"/api/v1/listings/{listing.public_id}/").status_code
            assert answer == (200 if str(listing.public_id) in visible else 404), listing.status
        for categories, purpose in SEGMENTS:
            wanted = taxonomy.pairs_mask(categories, [purpose])
            members = sum(
                1
                for seller in self.sellers
                if (state := recomputed(seller.pk, now))[0] & wanted == wanted and state[1] and state[1] > now
            )
            size = self.client.post(
                "/api/v1/segments/size/", {"categories": categories, "purpose": purpose}, format="json"
            ).json()
            if members:
                assert size["count"] == max(1, members - members % 5), size
            else:
                assert size["count"] is None and size["fewer_than"] == 1, size


def test_what_sellers_offer_is_always_the_full_recomputation(api_client_for, settings):
    settings.SEGMENT_MIN_SIZE = 1  # every segment answers: the count is what is compared
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    OfferMachine.api_client_for = staticmethod(api_client_for)
    OfferMachine.moderator = ModeratorFactory()
    run_state_machine_as_test(
        OfferMachine, settings=hsettings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    )
