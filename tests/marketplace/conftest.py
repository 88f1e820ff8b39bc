from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from listings import services as listing_services
from listings.models import Listing
from tests.factories import ModeratorFactory, PayingOrganisationFactory
from tests.listings.conftest import make_seller


def active_listing(
    *, pricing_mode: str = "auction", floor: int = 1000, ends_in=timedelta(hours=2), seller=None
) -> Listing:
    seller = seller or make_seller()
    listing = listing_services.listing_create(
        seller=seller,
        categories=["demographics", "location"],
        purposes=["targeted_advertising"],
        licence_days=30,
        pricing_mode=pricing_mode,
        floor_price_cents=floor,
        auction_ends_at=timezone.now() + ends_in if pricing_mode == "auction" else None,
    )
    return listing_services.listing_moderate(
        listing_id=listing.pk, moderator=ModeratorFactory(), approve=True
    )


@pytest.fixture
def buyers(db):
    return [PayingOrganisationFactory() for _ in range(3)]
