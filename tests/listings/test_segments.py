"""Audience segment sizing with a k-anonymity floor, rounding and consent checked to the second."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import ConsentGrant, SellerProfile
from listings import selectors, services
from listings.selectors import SegmentCriteria
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db

CRITERIA = SegmentCriteria(
    categories=["demographics", "location"],
    purpose="targeted_advertising",
    regions=["FR-IDF"],
    genders=["female"],
    mobile_os=["android"],
    interests=["travel", "cooking"],
)


def opted_in_sellers(n: int, **profile) -> list:
    sellers = []
    for _ in range(n):
        seller = make_seller(**profile)
        services.audience_optin_update(seller=seller, categories=["demographics", "location"])
        sellers.append(seller)
    return sellers


def test_k_minus_one_is_never_revealed_and_k_is_counted():
    k = settings.SEGMENT_MIN_SIZE
    sellers = opted_in_sellers(k - 1)
    make_seller()  # consents but offers nothing: not counted
    opted_in_sellers(3, region="FR-BRE")  # outside the criteria

    assert selectors.segment_size(CRITERIA) == {"count": None, "fewer_than": k, "rounded": True}

    sellers += opted_in_sellers(1)
    assert selectors.segment_size(CRITERIA) == {"count": k, "fewer_than": None, "rounded": True}

    # consent that expired a second ago: that seller is not counted, before any sweep runs
    expired = sellers[0]
    now = timezone.now()
    for grant in ConsentGrant.objects.filter(seller=expired):
        ConsentGrant.objects.filter(pk=grant.pk).update(
            granted_at=now - timedelta(days=90, seconds=1), expires_at=now - timedelta(seconds=1)
        )
    SellerProfile.objects.filter(seller=expired).update(sellable_until=now - timedelta(seconds=1))
    assert selectors.segment_size(CRITERIA)["count"] is None


def test_sizing_matches_all_the_criteria():
    opted_in_sellers(2)
    assert selectors.segment_members(CRITERIA).count() == 2
    assert (
        selectors.segment_members(SegmentCriteria(**{**CRITERIA.__dict__, "interests_match": "all"})).count()
        == 0
    )
    assert (
        selectors.segment_members(
            SegmentCriteria(**{**CRITERIA.__dict__, "purpose": "market_research"})
        ).count()
        == 0
    )
    assert (
        selectors.segment_members(SegmentCriteria(**{**CRITERIA.__dict__, "categories": ["device"]})).count()
        == 0
    )
    assert (
        selectors.segment_members(SegmentCriteria(**{**CRITERIA.__dict__, "age_bands": ["35-44"]})).count()
        == 2
    )
    assert (
        selectors.segment_members(SegmentCriteria(**{**CRITERIA.__dict__, "age_bands": ["18-24"]})).count()
        == 0
    )


def test_revocation_removes_the_seller_from_segments_at_once():
    (seller,) = opted_in_sellers(1)
    from accounts import services as account_services

    grant = ConsentGrant.objects.get(seller=seller, category="location")
    account_services.consent_revoke(seller=seller, grant_id=grant.pk)
    assert selectors.segment_members(CRITERIA).count() == 0


def test_sensitive_categories_need_their_own_opt_in():
    seller = make_seller(categories=("life_events",))
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        services.audience_optin_update(seller=seller, categories=["life_events"])
    wanted = SegmentCriteria(categories=["life_events"], purpose="targeted_advertising")
    assert selectors.segment_members(wanted).count() == 0
    services.audience_optin_update(seller=seller, categories=["life_events"], explicit_sensitive=True)
    assert selectors.segment_members(wanted).count() == 1


def test_an_active_listing_also_offers_its_categories(moderator):
    seller = make_seller()
    listing = services.listing_create(
        seller=seller,
        categories=["demographics", "location"],
        purposes=["targeted_advertising"],
        licence_days=30,
        pricing_mode="fixed",
        floor_price_cents=100,
    )
    assert selectors.segment_members(CRITERIA).count() == 0  # pending review offers nothing yet
    services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)
    assert selectors.segment_members(CRITERIA).count() == 1


@pytest.mark.parametrize(
    ("count", "shown"), [(25, 25), (27, 25), (99, 95), (123, 120), (4567, 4500), (12345, 12000)]
)
def test_counts_are_rounded_down_never_below_k(count, shown):
    assert selectors.rounded_count(count) == shown


def test_sizing_query_count_does_not_grow(django_assert_num_queries):
    opted_in_sellers(2)
    with django_assert_num_queries(1):
        selectors.segment_size(CRITERIA)
    opted_in_sellers(6)
    with django_assert_num_queries(1):
        selectors.segment_size(CRITERIA)
