"""Bids: buy now, sealed second-price auctions (ties to the earlier bid), races, bad input."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from listings.models import Listing
from marketplace import services
from marketplace.models import Bid, BidEvent, Trade, TradeLine
from tests.factories import OrganisationFactory
from tests.marketplace.conftest import active_listing

pytestmark = pytest.mark.django_db(transaction=True)
LATER = timedelta(hours=3)


def test_buy_now_creates_a_trade_at_once(buyers):
    listing = active_listing(pricing_mode="fixed", floor=700)

    bid = services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id)

    assert bid.status == Bid.Status.WON and bid.amount_cents == 700
    trade = Trade.objects.get(bid=bid)
    assert trade.status == Trade.Status.PENDING_PAYMENT and trade.price_per_record_cents == 700
    assert list(TradeLine.objects.filter(trade=trade).values_list("seller_id", flat=True)) == [
        listing.seller_id
    ]
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD
    with pytest.raises(Conflict):
        services.bid_place(organisation=buyers[1], listing_public_id=listing.public_id)


def test_second_price_auction_with_ties_to_the_earlier_bid(buyers):
    listing = active_listing(floor=1000)
    first = services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id, amount_cents=1500)
    services.bid_place(organisation=buyers[1], listing_public_id=listing.public_id, amount_cents=1500)
    services.bid_place(organisation=buyers[2], listing_public_id=listing.public_id, amount_cents=1200)

    assert services.auctions_close_due(now=timezone.now() + LATER) == 1

    first.refresh_from_db()
    assert first.status == Bid.Status.WON
    assert list(Bid.objects.exclude(pk=first.pk).values_list("status", flat=True)) == ["lost", "lost"]
    trade = Trade.objects.get(bid=first)
    assert trade.price_per_record_cents == 1500  # the second-highest bid (a tie)
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD
    assert services.auctions_close_due(now=timezone.now() + LATER) == 0


def test_a_single_bid_pays_the_floor_and_no_bid_expires_the_listing(buyers):
    sold = active_listing(floor=1000)
    bid = services.bid_place(organisation=buyers[0], listing_public_id=sold.public_id, amount_cents=5000)
    unsold = active_listing(floor=1000)

    services.auctions_close_due(now=timezone.now() + LATER)

    assert Trade.objects.get(bid=bid).price_per_record_cents == 1000
    assert Listing.objects.get(pk=unsold.pk).status == Listing.Status.EXPIRED


def test_raise_and_cancel_until_close(buyers):
    listing = active_listing(floor=1000)
    bid = services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id, amount_cents=1000)
    with pytest.raises(Conflict) as exc:
        services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id, amount_cents=1100)
    assert exc.value.code == "bid_exists"
    with pytest.raises(InvalidInput):
        services.bid_raise(organisation=buyers[0], bid_public_id=bid.public_id, amount_cents=900)
    services.bid_raise(organisation=buyers[0], bid_public_id=bid.public_id, amount_cents=2000)
    with pytest.raises(NotFound):
        services.bid_cancel(organisation=buyers[1], bid_public_id=bid.public_id)
    services.bid_cancel(organisation=buyers[0], bid_public_id=bid.public_id)
    assert Bid.objects.get(pk=bid.pk).status == Bid.Status.CANCELLED
    # a new bid is possible once the old one is cancelled
    services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id, amount_cents=1000)


@pytest.mark.parametrize(
    ("amount", "error", "code"),
    [
        (999, InvalidInput, "below_floor"),
        (0, InvalidInput, "amount_invalid"),
        (-5, InvalidInput, "amount_invalid"),
    ],
)
def test_bad_bids_change_nothing(buyers, amount, error, code):
    listing = active_listing(floor=1000)
    with pytest.raises(error) as exc:
        services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id, amount_cents=amount)
    assert exc.value.code == code
    assert not Bid.objects.exists()


def test_unverified_organisations_and_closed_listings_are_refused(buyers):
    listing = active_listing(floor=1000)
    with pytest.raises(Forbidden):
        services.bid_place(
            organisation=OrganisationFactory(), listing_public_id=listing.public_id, amount_cents=1000
        )
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.PAUSED)
    with pytest.raises(Conflict):
        services.bid_place(organisation=buyers[0], listing_public_id=listing.public_id, amount_cents=1000)
    assert not Bid.objects.exists()


def test_fifty_threads_bid_at_once_one_winner_right_second_price():
    from tests.factories import PayingOrganisationFactory

    listing = active_listing(floor=1000)
    organisations = [PayingOrganisationFactory() for _ in range(50)]
    amounts = [1000 + 10 * i for i in range(50)]  # the best is 1490, the second 1480
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def place(organisation, amount):
        try:
            barrier.wait()
            services.bid_place(
                organisation=organisation, listing_public_id=listing.public_id, amount_cents=amount
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=pair) for pair in zip(organisations, amounts, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Bid.objects.filter(listing=listing, status="open").count() == 50  # no lost bid
    services.auctions_close_due(now=timezone.now() + LATER)
    (won,) = Bid.objects.filter(listing=listing, status="won")
    assert won.amount_cents == 1490 and won.organisation == organisations[-1]
    assert Trade.objects.get(bid=won).price_per_record_cents == 1480
    assert Bid.objects.filter(listing=listing, status="lost").count() == 49


def test_no_bid_is_accepted_after_the_close_commits(buyers):
    from tests.factories import PayingOrganisationFactory

    listing = active_listing(floor=1000)
    organisations = [PayingOrganisationFactory() for _ in range(6)]
    ends_at = timezone.now() + timedelta(seconds=1.5)
    Listing.objects.filter(pk=listing.pk).update(auction_ends_at=ends_at)
    stop = threading.Event()
    accepted: list[tuple[int, object]] = []

    def keep_bidding(organisation):
        amount = 1000
        try:
            while not stop.is_set():
                try:
                    bid = services.bid_place(
                        organisation=organisation, listing_public_id=listing.public_id, amount_cents=amount
                    )
                    accepted.append((bid.pk, timezone.now()))
                    services.bid_cancel(organisation=organisation, bid_public_id=bid.public_id)
                    amount += 1
                except Conflict:
                    if Listing.objects.get(pk=listing.pk).status != Listing.Status.ACTIVE:
                        return
        finally:
            connection.close()

    def close():
        try:
            while timezone.now() < ends_at:
                pass
            deadline = timezone.now() + timedelta(seconds=20)
            # a listing locked by an in-flight bid is skipped (SKIP LOCKED): the sweep comes back
            while not services.auctions_close_due() and timezone.now() < deadline:
                pass
        finally:
            stop.set()
            connection.close()

    threads = [threading.Thread(target=keep_bidding, args=(o,)) for o in organisations] + [
        threading.Thread(target=close)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    listing.refresh_from_db()
    assert listing.status in (Listing.Status.HELD, Listing.Status.EXPIRED)
    closed_at = listing.events.get(to_status__in=["held", "expired"]).occurred_at
    created = BidEvent.objects.filter(bid__listing=listing, from_status="", to_status="open")
    assert created.exists()
    # every accepted bid was checked against the end time before it (its amount_set_at is the
    # instant of that check), and none was written after the close committed
    assert all(bid.amount_set_at < ends_at for bid in Bid.objects.filter(listing=listing))
    assert all(event.occurred_at <= closed_at for event in created)
