"""Audience-bundle clearing: sellers matching the criteria with valid consent now and a floor at
or under the bid, cheapest first up to the maximum; one uniform price per record = the highest
floor selected; never fewer than K records; sensitive categories only by the seller's own opt-in;
expired bids never clear."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ConsentGrant, SellerProfile
from core.errors import InvalidInput
from listings import services as listing_services
from listings.selectors import SegmentCriteria
from marketplace import services
from marketplace.models import Bid, BidEvent, Trade, TradeLine
from tests.factories import ModeratorFactory, PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import audience_sellers, consent_of, queued  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
PURPOSE = "targeted_advertising"
BOTH = ["demographics", "location"]


def listed_seller(floor: int, **profile):
    """A seller whose fixed-price listing (demographics + location) sets their floor."""
    return active_listing(pricing_mode="fixed", floor=floor, seller=make_seller(**profile)).seller


def place(
    buyer, *, max_price: int, max_records: int, categories=BOTH, expires_in=timedelta(days=1), **criteria
) -> Bid:
    return services.audience_bid_place(
        organisation=buyer,
        criteria=SegmentCriteria(categories=list(categories), purpose=PURPOSE, **criteria),
        max_price_cents=max_price,
        max_records=max_records,
        expires_at=timezone.now() + expires_in,
    )


def sold(trade: Trade) -> dict[int, int]:
    return dict(TradeLine.objects.filter(trade=trade).values_list("seller_id", "price_cents"))


@pytest.fixture
def buyer(db):
    return PayingOrganisationFactory()


def test_cheapest_first_up_to_the_maximum_at_one_uniform_price(settings, buyer, queued):  # noqa: F811
    settings.SEGMENT_MIN_SIZE = 3
    by_floor = {floor: listed_seller(floor) for floor in (400, 100, 300, 200, 500)}
    bid = place(buyer, max_price=450, max_records=3)

    trade = services.audience_bid_clear(bid_id=bid.pk)

    # 100, 200, 300 are the three cheapest; 400 fits the bid but not the maximum; 500 is over
    assert sold(trade) == {by_floor[100].pk: 300, by_floor[200].pk: 300, by_floor[300].pk: 300}
    assert (trade.price_per_record_cents, trade.listing, trade.purpose, trade.licence_days) == (
        300,
        None,
        PURPOSE,
        30,
    )
    assert set(TradeLine.objects.filter(trade=trade).values_list("categories_mask", flat=True)) == {0b11}
    bid.refresh_from_db()
    assert (bid.status, bid.status_reason) == ("won", "cleared 3 records at 300 cents")
    assert queued["trades_settle"] == [()]
    assert services.audience_bid_clear(bid_id=bid.pk) is None  # a won bid never clears again
    assert Trade.objects.count() == 1


def test_a_listing_floor_counts_only_for_a_licence_it_covers(settings, buyer):
    settings.SEGMENT_MIN_SIZE = 1
    listed_seller(100)  # a 30-day listing, no audience opt-in
    (opted_in,) = audience_sellers(1)
    longer = place(buyer, max_price=100_000, max_records=10, licence_days=90)

    trade = services.audience_bid_clear(bid_id=longer.pk)

    assert list(sold(trade)) == [opted_in.pk]  # valued for 90 days; the listed seller never offered it
    assert trade.licence_days == 90 and trade.price_per_record_cents > 100


def test_fewer_than_the_maximum_is_fine_at_or_above_k(settings, buyer):
    settings.SEGMENT_MIN_SIZE = 2
    cheap, middle, _dear = listed_seller(100), listed_seller(250), listed_seller(900)

    trade = services.audience_bid_clear(bid_id=place(buyer, max_price=250, max_records=10).pk)

    assert sold(trade) == {cheap.pk: 250, middle.pk: 250}  # a floor equal to the bid is in


def test_under_k_the_bid_stays_open_until_enough_sellers_join(settings, buyer, queued):  # noqa: F811
    settings.SEGMENT_MIN_SIZE = 3
    listed_seller(100)
    listed_seller(200)
    listed_seller(5000)  # matches, but over the bid
    bid = place(buyer, max_price=1000, max_records=5)

    assert services.audience_bid_clear(bid_id=bid.pk) is None
    bid.refresh_from_db()
    assert bid.status == "open" and not Trade.objects.exists() and queued["trades_settle"] == []

    newcomer = listed_seller(150)
    assert services.audience_bids_sweep() == 0  # nothing expired; the retry clears it

    trade = Trade.objects.get(bid=bid)
    assert sorted(sold(trade).values()) == [200, 200, 200] and newcomer.pk in sold(trade)


def test_k_defaults_to_25(buyer):
    with pytest.raises(InvalidInput) as exc:
        place(buyer, max_price=10_000, max_records=24)
    assert exc.value.code == "max_records_invalid"

    sellers = audience_sellers(24)
    bid = place(buyer, max_price=10_000, max_records=30)
    assert services.audience_bid_clear(bid_id=bid.pk) is None

    sellers += audience_sellers(1)
    trade = services.audience_bid_clear(bid_id=bid.pk)
    assert set(sold(trade)) == {s.pk for s in sellers}


def test_sensitive_categories_only_with_the_sellers_own_opt_in(settings, buyer):
    settings.SEGMENT_MIN_SIZE = 1
    opted_in = make_seller(categories=("life_events",))
    listing_services.audience_optin_update(
        seller=opted_in, categories=["life_events"], explicit_sensitive=True
    )
    listed_only = make_seller(categories=("life_events",))  # consents and lists life events, no opt-in
    listing = listing_services.listing_create(
        seller=listed_only,
        categories=["life_events"],
        purposes=[PURPOSE],
        licence_days=30,
        pricing_mode="fixed",
        floor_price_cents=100,
    )
    listing_services.listing_moderate(listing_id=listing.pk, moderator=ModeratorFactory(), approve=True)
    other_optin = make_seller(categories=("life_events", "demographics"))  # opted in to demographics only
    listing_services.audience_optin_update(seller=other_optin, categories=["demographics"])

    trade = services.audience_bid_clear(
        bid_id=place(buyer, max_price=100_000, max_records=10, categories=["life_events"]).pk
    )

    assert list(sold(trade)) == [opted_in.pk]


def test_sellers_who_list_categories_piecemeal_are_not_bundled(settings, buyer):
    settings.SEGMENT_MIN_SIZE = 1
    (opted_in,) = audience_sellers(1)
    piecemeal = make_seller()
    for category in BOTH:
        listing = listing_services.listing_create(
            seller=piecemeal,
            categories=[category],
            purposes=[PURPOSE],
            licence_days=30,
            pricing_mode="fixed",
            floor_price_cents=10,
        )
        listing_services.listing_moderate(listing_id=listing.pk, moderator=ModeratorFactory(), approve=True)

    trade = services.audience_bid_clear(bid_id=place(buyer, max_price=100_000, max_records=10).pk)

    assert list(sold(trade)) == [opted_in.pk]


def test_only_sellers_matching_the_criteria_with_consent_now(settings, buyer):
    settings.SEGMENT_MIN_SIZE = 1
    matching = listed_seller(100)
    listed_seller(100, region="FR-BRE")  # another region
    revoked = listed_seller(100)
    account_services.consent_revoke(seller=revoked, grant_id=consent_of(revoked, "location").pk)
    lapsed = listed_seller(100)  # consent window over, the expiry sweep has not run yet
    past = timezone.now() - timedelta(seconds=1)
    ConsentGrant.objects.filter(seller=lapsed, category="demographics").update(
        granted_at=past - timedelta(days=90), expires_at=past
    )
    SellerProfile.objects.filter(seller=lapsed).update(sellable_until=past)  # as audience_refresh set it

    trade = services.audience_bid_clear(
        bid_id=place(buyer, max_price=1000, max_records=10, regions=["FR-IDF"]).pk
    )

    assert list(sold(trade)) == [matching.pk]


def test_expired_bids_never_clear_and_the_sweep_expires_them(settings, buyer):
    settings.SEGMENT_MIN_SIZE = 1
    listed_seller(100)
    bid = place(buyer, max_price=1000, max_records=5)
    Bid.objects.filter(pk=bid.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert services.audience_bid_clear(bid_id=bid.pk) is None  # before the sweep
    assert services.audience_bids_sweep() == 1

    bid.refresh_from_db()
    assert (bid.status, bid.status_reason) == ("expired", "expired before clearing")
    assert BidEvent.objects.filter(bid=bid).last().to_status == "expired"
    assert not Trade.objects.exists()
    assert services.audience_bids_sweep() == 0


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"max_price": 0, "max_records": 5}, "amount_invalid"),
        ({"max_price": 100, "max_records": 5, "expires_in": timedelta(days=31)}, "expiry_invalid"),
        ({"max_price": 100, "max_records": 5, "categories": []}, "categories_required"),
        ({"max_price": 100, "max_records": 5, "categories": ["shoe_size"]}, "category_unknown"),
        ({"max_price": 100, "max_records": 5, "licence_days": 45}, "licence_invalid"),
    ],
)
def test_bad_audience_bids_are_refused_and_change_nothing(settings, buyer, kwargs, code):
    settings.SEGMENT_MIN_SIZE = 1

    with pytest.raises(InvalidInput) as exc:
        place(buyer, **kwargs)

    assert exc.value.code == code
    assert not Bid.objects.exists() and not BidEvent.objects.exists()


def test_unverified_organisations_cannot_bid_on_audiences(settings):
    from core.errors import Forbidden
    from tests.factories import OrganisationFactory

    settings.SEGMENT_MIN_SIZE = 1
    with pytest.raises(Forbidden):
        place(OrganisationFactory(), max_price=100, max_records=5)
    assert not Bid.objects.exists()
