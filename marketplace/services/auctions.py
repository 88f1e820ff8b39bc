"""Auction close, and held listings whose sale failed: offered to the next bidder or released."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import lock_objects as account_locks
from core.locks import claim_rows
from listings import lock_objects as listing_locks
from listings import services as listing_services
from listings.models import Listing
from marketplace import lock_objects, payments_port, webhook_payloads
from marketplace.models import Bid, Trade, WebhookEventType
from marketplace.services._common import _bid_transition, _trade_create
from marketplace.services.webhooks import webhook_events_emit_for


def auctions_close_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Close every auction whose end has passed: the highest bid at or above the floor wins and
    pays the second-highest bid or the floor, whichever is higher; ties go to the earlier bid."""
    now = now or timezone.now()
    closed = 0
    while True:
        due = list(
            Listing.objects.filter(
                status=Listing.Status.ACTIVE,
                pricing_mode=Listing.PricingMode.AUCTION,
                auction_ends_at__lte=now,
            )
            .order_by("auction_ends_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        for listing_id in due:
            closed += _auction_close(listing_id, now)
        if len(due) < batch_size:
            return closed


def _auction_close(listing_id: int, now: datetime) -> int:
    with transaction.atomic(durable=True):
        claimed = claim_rows(
            Listing.objects.filter(pk=listing_id, status=Listing.Status.ACTIVE, auction_ends_at__lte=now),
            limit=1,
        )
        listing = claimed[0] if claimed else None
        if listing is None:
            return 0  # another worker has it, or it is already closed
        bids = lock_objects.bids(Bid.objects.filter(listing=listing, status=Bid.Status.OPEN))
        ranked = sorted(bids, key=lambda b: (-b.amount_cents, b.amount_set_at, b.pk))
        eligible = [b for b in ranked if b.amount_cents >= listing.floor_price_cents]
        if not eligible or listing_services.listing_missing_consent(listing, now):
            for bid in bids:
                _bid_transition(bid, Bid.Status.LOST, "auction ended without a sale")
            listing_services.listing_expire_locked(listing, reason="auction ended without a winning bid")
            _emit_lost(bids)
            return 1
        winner = eligible[0]
        price = max(eligible[1].amount_cents if len(eligible) > 1 else 0, listing.floor_price_cents)
        _bid_transition(winner, Bid.Status.WON, f"won at {price} cents")
        for bid in ranked[1:]:
            _bid_transition(bid, Bid.Status.LOST, "outbid")
        _emit_lost(ranked[1:])
        listing_services.listing_hold_locked(listing, reason="auction won: payment in progress")
        _trade_create(
            winner,
            price_per_record=price,
            sellers=[(listing.seller_id, listing.categories_mask)],
            listing=listing,
        )
    return 1


def _emit_lost(bids: Sequence[Bid]) -> None:
    ids = [bid.pk for bid in bids]
    webhook_events_emit_for(
        WebhookEventType.BID_LOST, [bid.organisation_id for bid in bids], lambda: webhook_payloads.bids(ids)
    )


def listings_release(*, listing_ids: Sequence[int] | None = None) -> int:
    """Held listings whose every trade failed (payment failed, or voided) go back to their
    seller's market: an auction is first offered to the next eligible bidder at their own price.
    Runs after a trade fails, and from the settlement sweep (a crash in between loses nothing).
    Returns how many listings were released or offered on."""
    held = Listing.objects.filter(status=Listing.Status.HELD).exclude(
        trades__status__in=[s for s in Trade.Status.values if s not in Trade.FAILED]
    )
    if listing_ids is not None:
        held = held.filter(pk__in=listing_ids)
    return sum(_listing_release(listing_id) for listing_id in held.values_list("pk", flat=True))


def _next_bid(listing: Listing, bids: list[Bid]) -> Bid | None:
    """The best losing bid at or above the floor whose organisation has not failed to pay for
    this listing and may still pay (verified, with a payment method)."""
    failed = set(
        Trade.objects.filter(listing=listing, status__in=Trade.FAILED).values_list(
            "organisation_id", flat=True
        )
    )
    ranked = sorted(bids, key=lambda b: (-b.amount_cents, b.amount_set_at, b.pk))
    for bid in ranked:
        if bid.status != Bid.Status.LOST or bid.amount_cents < listing.floor_price_cents:
            continue
        if bid.organisation_id in failed or not bid.organisation.is_verified:
            continue
        if payments_port.has_payment_method(organisation_id=bid.organisation_id):
            return bid
    return None


def _listing_release(listing_id: int) -> int:
    with transaction.atomic(durable=True):
        seller_id = Listing.objects.filter(pk=listing_id).values_list("seller_id", flat=True).first()
        account_locks.consent_grants_active_of_sellers([seller_id] if seller_id is not None else [])
        listing = listing_locks.listing(listing_id)
        if listing is None or listing.status != Listing.Status.HELD:
            return 0
        if Trade.objects.filter(listing=listing).exclude(status__in=Trade.FAILED).exists():
            return 0  # a trade is still paying for it
        if (
            listing.pricing_mode == Listing.PricingMode.AUCTION
            and not listing_services.listing_missing_consent(listing)
        ):
            bids = lock_objects.bids(Bid.objects.filter(listing=listing).select_related("organisation"))
            bid = _next_bid(listing, bids)
            if bid is not None:
                _bid_transition(bid, Bid.Status.WON, "offered after the winner's payment failed")
                _trade_create(
                    bid,
                    price_per_record=bid.amount_cents,
                    sellers=[(listing.seller_id, listing.categories_mask)],
                    listing=listing,
                )
                return 1
        listing_services.listing_release_locked(
            listing, reason="the buyer's payment failed", auction_hours=settings.AUCTION_RELIST_HOURS
        )
    return 1
