"""Nothing is sold before it is paid: a listing is held while its buyer's payment is authorised,
sold when the trade settles, and back on the market (or offered to the next bidder) when the
payment fails or is never authorised. Against the Stripe sandbox, settlement driven as a worker
drives it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from listings.models import Listing
from marketplace import selectors, services, settlement
from marketplace.models import Bid, Trade
from payments.models import Payment
from tests.conftest import staff_client
from tests.factories import ModeratorFactory, PayingOrganisationFactory
from tests.marketplace.conftest import active_listing
from tests.marketplace.settlement.conftest import settle_trade

pytestmark = pytest.mark.django_db(transaction=True)

DECLINES = "4000000000000341"  # attaches, then declines every charge
NEEDS_3DS = "4000002500003155"  # every payment requires authentication


def browse_ids(api_client_for, organisation) -> set[str]:
    rows = api_client_for(organisation).get("/api/v1/listings/").json()["results"]
    return {row["id"] for row in rows}


def test_a_listing_is_held_while_paid_then_sold(buyer, api_client_for):
    listing = active_listing(pricing_mode="fixed", floor=2500)
    bid = services.bid_place(organisation=buyer, listing_public_id=listing.public_id)
    trade = Trade.objects.get(bid=bid)
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD
    assert str(listing.public_id) not in browse_ids(api_client_for, buyer)
    # a held listing cannot be bought twice: 409, nothing written
    again = api_client_for(PayingOrganisationFactory()).post(
        "/api/v1/bids/", {"listing": str(listing.public_id)}, format="json"
    )
    assert (again.status_code, again.json()["code"]) == (409, "listing_not_open")
    assert Trade.objects.filter(listing=listing).count() == 1

    assert settle_trade(trade.pk) == Trade.Status.SETTLED

    listing.refresh_from_db()
    assert listing.status == Listing.Status.SOLD
    assert list(listing.events.values_list("to_status", flat=True))[-2:] == ["held", "sold"]


def test_a_declined_payment_puts_the_listing_back_on_the_market(buyer_with_card, buyer, api_client_for):
    listing = active_listing(pricing_mode="fixed", floor=2500)
    declining = buyer_with_card(DECLINES)
    trade = Trade.objects.get(
        bid=services.bid_place(organisation=declining, listing_public_id=listing.public_id)
    )

    assert settle_trade(trade.pk) == Trade.Status.PAYMENT_FAILED

    listing.refresh_from_db()
    assert listing.status == Listing.Status.ACTIVE and listing.status_reason == "the buyer's payment failed"
    assert str(listing.public_id) in browse_ids(api_client_for, buyer)
    # and a buyer who pays gets it
    second = Trade.objects.get(
        bid=services.bid_place(organisation=buyer, listing_public_id=listing.public_id)
    )
    assert settle_trade(second.pk) == Trade.Status.SETTLED
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.SOLD


def test_an_auction_goes_to_the_next_bidder_at_their_own_price(buyer_with_card, buyer):
    listing = active_listing(pricing_mode="auction", floor=1000, ends_in=timedelta(hours=2))
    declining = buyer_with_card(DECLINES)
    top = services.bid_place(organisation=declining, listing_public_id=listing.public_id, amount_cents=3000)
    runner_up = services.bid_place(organisation=buyer, listing_public_id=listing.public_id, amount_cents=2000)
    assert services.auctions_close_due(now=timezone.now() + timedelta(hours=3)) == 1
    failed = Trade.objects.get(bid=top)
    assert failed.price_per_record_cents == 2000  # second price

    assert settle_trade(failed.pk) == Trade.Status.PAYMENT_FAILED

    runner_up.refresh_from_db()
    assert runner_up.status == Bid.Status.WON
    offered = Trade.objects.get(bid=runner_up)
    assert offered.price_per_record_cents == 2000  # their own price
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD
    assert settle_trade(offered.pk) == Trade.Status.SETTLED
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.SOLD


def test_an_unpaid_auction_without_another_bidder_is_relisted(buyer_with_card, settings):
    settings.AUCTION_RELIST_HOURS = 24
    listing = active_listing(pricing_mode="auction", floor=1000, ends_in=timedelta(hours=2))
    declining = buyer_with_card(DECLINES)
    top = services.bid_place(organisation=declining, listing_public_id=listing.public_id, amount_cents=3000)
    services.auctions_close_due(now=timezone.now() + timedelta(hours=3))

    settle_trade(Trade.objects.get(bid=top).pk)

    listing.refresh_from_db()
    assert listing.status == Listing.Status.ACTIVE
    assert (
        timezone.now() + timedelta(hours=23) < listing.auction_ends_at <= timezone.now() + timedelta(hours=24)
    )


def test_a_payment_never_authorised_releases_the_listing_at_its_deadline(
    buyer_with_card, stripe_api, settings
):
    settings.SETTLEMENT_AUTHORISATION_DEADLINE_MINUTES = 30
    listing = active_listing(pricing_mode="fixed", floor=2500)
    hesitant = buyer_with_card(NEEDS_3DS)
    trade = Trade.objects.get(
        bid=services.bid_place(organisation=hesitant, listing_public_id=listing.public_id)
    )

    assert settle_trade(trade.pk) == Trade.Status.PENDING_PAYMENT
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD  # the buyer may still act

    Trade.objects.filter(pk=trade.pk).update(
        created_at=timezone.now() - timedelta(minutes=31), next_attempt_at=timezone.now()
    )
    assert settlement.trades_settle_due() == 0

    trade.refresh_from_db()
    assert (trade.status, trade.status_reason) == (
        Trade.Status.PAYMENT_FAILED,
        "not authorised before the deadline",
    )
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE
    payment = Payment.objects.get(reference=trade.batch.payment_reference)
    assert payment.status == Payment.Status.CANCELED
    assert stripe_api.v1.payment_intents.retrieve(payment.stripe_payment_intent_id).status == "canceled"


def test_a_release_a_crash_interrupted_is_done_by_the_sweep(buyer_with_card):
    from marketplace.tasks import trades_settle_due

    listing = active_listing(pricing_mode="fixed", floor=2500)
    trade = Trade.objects.get(
        bid=services.bid_place(organisation=buyer_with_card(DECLINES), listing_public_id=listing.public_id)
    )
    # the trade failed but the worker died before its after-commit release
    Trade.objects.filter(pk=trade.pk).update(status=Trade.Status.PAYMENT_FAILED)
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.HELD

    trades_settle_due()

    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE


def test_a_buyer_whose_payments_keep_failing_is_flagged(buyer_with_card, settings, client):
    settings.PAYMENT_FAILURES_FLAG = 3
    declining = buyer_with_card(DECLINES)
    listings = [active_listing(pricing_mode="fixed", floor=1000 + i) for i in range(3)]
    for i, listing in enumerate(listings):
        trade = Trade.objects.get(
            bid=services.bid_place(organisation=declining, listing_public_id=listing.public_id)
        )
        settle_trade(trade.pk)
        flagged = selectors.organisations_failing_payments()
        assert (declining.pk in flagged) == (i == 2)
    assert all(Listing.objects.get(pk=lst.pk).status == Listing.Status.ACTIVE for lst in listings)

    staff_client(ModeratorFactory(), client)  # signed in, second factor passed
    page = client.get("/admin/marketplace/buyerfailingpayments/")
    assert page.status_code == 200
    assert declining.legal_name in page.content.decode()
    trades = client.get(
        f"/admin/marketplace/trade/?organisation__id__exact={declining.pk}&status__exact=payment_failed"
    )
    assert trades.status_code == 200 and "3 trades" in trades.content.decode()
