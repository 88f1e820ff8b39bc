"""The demo's listings: the demo seller's, and about a third of the crowd's, some auctions ending
minutes after start-up."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from accounts.models import ConsentGrant, User
from accounts.taxonomy import DataCategory
from listings import services as listing_services
from listings.models import Listing
from marketplace.demo.data import CLOSING_SOON_MINUTES, DEMO_LISTINGS


class ListingSeeder:
    """Part of the seed_demo command: uses its stdout and rng."""

    def listings(self, demo_seller: User, crowd: list[User], moderator: User) -> None:
        """The demo seller's listings, and one listing for about a third of the crowd: fixed
        price or auction, some of those ending minutes from now. Once per seller."""
        rng = random.Random(self.rng.random())
        listed = set(Listing.objects.values_list("seller_id", flat=True).distinct())
        now = timezone.now()
        created: list[Listing] = []
        if demo_seller.pk not in listed:
            for categories, purposes, days, mode, floor in DEMO_LISTINGS:
                created.append(
                    listing_services.listing_create(
                        seller=demo_seller,
                        categories=categories,
                        purposes=purposes,
                        licence_days=days,
                        pricing_mode=mode,
                        floor_price_cents=floor,
                        auction_ends_at=now + timedelta(days=3) if mode == "auction" else None,
                    )
                )
        consented: dict[int, dict[str, list[str]]] = {}
        for seller_id, category, purpose in (
            ConsentGrant.objects.filter(seller__in=crowd, status=ConsentGrant.Status.ACTIVE)
            .exclude(category=DataCategory.LIFE_EVENTS)
            .values_list("seller_id", "category", "purpose")
        ):
            consented.setdefault(seller_id, {}).setdefault(purpose, []).append(category)
        sellers = [s for s in crowd if s.pk in consented]
        if listed & {s.pk for s in crowd}:
            sellers = []  # the crowd listed on an earlier run
        sellers = rng.sample(sellers, k=len(sellers) // 3) if len(sellers) >= 30 else sellers
        closing_soon = list(CLOSING_SOON_MINUTES)
        pending = 0
        for index, seller in enumerate(sorted(sellers, key=lambda s: s.pk)):
            purpose = rng.choice(sorted(consented[seller.pk]))
            options = sorted(consented[seller.pk][purpose])
            categories = rng.sample(options, k=min(len(options), rng.randint(1, 3)))
            days = rng.choice((30, 30, 90, 90, 365))
            mode = "auction" if index % 3 == 0 else "fixed"
            base = sum(
                {"demographics": 40, "location": 50, "device": 20, "telecom": 30}.get(c, 55)
                for c in categories
            )
            premium = rng.uniform(0.8, 1.3) if days < 365 else rng.uniform(1.2, 1.8)
            floor = max(10, round(base * {30: 1, 90: 2.4, 365: 7}[days] * premium))
            ends = now + timedelta(hours=rng.randint(2, 72)) if mode == "auction" else None
            listing = listing_services.listing_create(
                seller=seller,
                categories=categories,
                purposes=[purpose],
                licence_days=days,
                pricing_mode=mode,
                floor_price_cents=floor,
                auction_ends_at=ends,
            )
            if listing.status == Listing.Status.PENDING_REVIEW:
                if pending < 4:
                    pending += 1  # left for the moderator to review in the admin
                    continue
                listing = listing_services.listing_moderate(
                    listing_id=listing.pk, moderator=moderator, approve=True
                )
            if mode == "auction" and closing_soon and listing.status == Listing.Status.ACTIVE:
                # The one shortcut: listing_create rightly refuses an auction shorter than an
                # hour; these end minutes after start-up so the beat sweep closes them on screen.
                minutes = closing_soon.pop(0)
                Listing.objects.filter(pk=listing.pk, status=Listing.Status.ACTIVE).update(
                    auction_ends_at=timezone.now() + timedelta(minutes=minutes)
                )
            created.append(listing)
        if created or sellers:
            self.stdout.write(f"Listings: {len(created)} created ({pending} left pending review).")
