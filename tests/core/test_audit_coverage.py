"""The audit trail follows every change to consent and listings (issue 14): who, when, what, why,
written in the transaction of the change. Trades and payouts: tests/marketplace/settlement/
test_trade_audit.py and tests/payments/test_payout_audit.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ConsentGrant
from core.models import AuditEntry
from listings import services as listing_services
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db

TERMS = {
    "categories": ["demographics", "location"],
    "purposes": ["targeted_advertising"],
    "licence_days": 90,
    "pricing_mode": "fixed",
    "floor_price_cents": 250,
}


def entries_of(target, action: str | None = None):
    found = AuditEntry.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
    return found.filter(action=action) if action else found


def test_granting_renewing_and_withdrawing_consent_are_the_sellers_entries(seller):
    grant = account_services.consent_grant(
        seller=seller, category="demographics", purpose="targeted_advertising", window_days=30
    )
    renewed = account_services.consent_renew(seller=seller, grant_id=grant.pk, window_days=90)
    account_services.consent_revoke(seller=seller, grant_id=renewed.pk)

    granted = entries_of(grant, "consent.granted").get()
    assert (granted.actor, granted.actor_role) == (seller, "seller")
    assert granted.changes["category"] == "demographics" and granted.changes["window_days"] == 30
    renewal = entries_of(renewed, "consent.renewed").get()
    assert renewal.actor == seller and renewal.changes["renewed_from"] == grant.pk
    withdrawn = entries_of(renewed, "consent.withdrawn").get()
    assert (withdrawn.actor, withdrawn.actor_role) == (seller, "seller")
    assert withdrawn.changes == {"status": ["active", "revoked"]}
    assert withdrawn.reason == "withdrawn by the seller"
    assert withdrawn.target_repr == "demographics/targeted_advertising (revoked)"


def test_withdrawing_on_the_consent_page_is_attributed_to_the_signed_in_seller(client, seller):
    grant = account_services.consent_grant(
        seller=seller, category="location", purpose="targeted_advertising", window_days=30
    )
    client.force_login(seller)

    client.post(reverse("seller-consent-revoke", args=[grant.pk]))

    grant.refresh_from_db()
    assert grant.status == ConsentGrant.Status.REVOKED
    assert entries_of(grant, "consent.withdrawn").get().actor == seller


def test_the_expiry_sweep_writes_the_platforms_entries_in_one_insert():
    """Given sellers whose consents ended, two of them with listings, when the sweep expires the
    consents, then the consents' entries are one INSERT and the listings it pauses one more."""
    sellers = [make_seller() for _ in range(3)]
    listings = [listing_services.listing_create(seller=s, **TERMS) for s in sellers[:2]]
    due = list(ConsentGrant.objects.filter(seller__in=sellers, status="active"))
    ConsentGrant.objects.filter(pk__in=[g.pk for g in due]).update(
        granted_at=timezone.now() - timedelta(days=91), expires_at=timezone.now() - timedelta(days=1)
    )

    with CaptureQueriesContext(connection) as captured:
        assert account_services.consent_expire_due(batch_size=100) == len(due) == 6

    inserts = [q["sql"] for q in captured.captured_queries if 'INSERT INTO "core_auditentry"' in q["sql"]]
    assert len(inserts) == 2, inserts  # set-based, as the sweep: never one query per row
    for grant in due:
        entry = entries_of(grant, "consent.expired").get()
        assert entry.actor is None and entry.actor_role == AuditEntry.SYSTEM
        assert entry.changes == {"status": ["active", "expired"]} and entry.reason == "window ended"
    for listing in listings:
        paused = entries_of(listing, "listing.paused").get()
        assert paused.actor_role == AuditEntry.SYSTEM and paused.reason == "consent expired"


def test_approving_and_rejecting_a_listing_are_the_moderators_entries(moderator):
    seller = make_seller()
    approved = listing_services.listing_create(seller=seller, **TERMS)
    rejected = listing_services.listing_create(seller=seller, **{**TERMS, "floor_price_cents": 300})

    listing_services.listing_moderate(listing_id=approved.pk, moderator=moderator, approve=True)
    listing_services.listing_moderate(
        listing_id=rejected.pk, moderator=moderator, approve=False, reason="blurry terms"
    )

    created = entries_of(approved, "listing.created").get()
    assert created.actor == seller and created.changes["floor_price_cents"] == 250
    submitted = entries_of(approved, "listing.submitted").get()
    assert submitted.actor == seller and submitted.changes == {"status": ["draft", "pending_review"]}
    approval = entries_of(approved, "listing.approved").get()
    assert (approval.actor, approval.actor_role) == (moderator, "moderator")
    assert approval.changes == {"status": ["pending_review", "active"]}
    rejection = entries_of(rejected, "listing.rejected").get()
    assert (rejection.actor, rejection.reason) == (moderator, "blurry terms")
    assert rejection.changes == {"status": ["pending_review", "draft"]}


def test_a_price_change_and_a_withdrawal_are_the_sellers_entries(moderator):
    seller = make_seller()
    listing = listing_services.listing_create(seller=seller, **TERMS)

    listing_services.listing_update_terms(seller=seller, listing_id=listing.pk, floor_price_cents=400)
    listing_services.listing_seller_action(seller=seller, listing_id=listing.pk, to_status="withdrawn")

    price = entries_of(listing, "listing.price_changed").get()
    assert price.actor == seller and price.changes == {"floor_price_cents": [250, 400]}
    assert entries_of(listing, "listing.withdrawn").get().actor == seller


def test_withdrawing_consent_audits_the_listings_it_pauses():
    seller = make_seller()
    listing = listing_services.listing_create(seller=seller, **TERMS)
    grant = ConsentGrant.objects.get(seller=seller, category="location", status="active")

    account_services.consent_revoke(seller=seller, grant_id=grant.pk)

    paused = entries_of(listing, "listing.paused").get()
    assert paused.reason == "consent revoked" and paused.changes == {"status": ["pending_review", "paused"]}
