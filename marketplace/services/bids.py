"""Bids on listings (buy now, sealed bids, raise, cancel) and the one way a trade's status changes."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import taxonomy
from accounts.models import BuyerOrganisation
from core import audit
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from listings import lock_objects as listing_locks
from listings import services as listing_services
from listings.models import Listing
from marketplace import lock_objects, payments_port, selectors, webhook_payloads
from marketplace.models import Bid, BidEvent, Trade, TradeEvent, WebhookEventType
from marketplace.services._common import (
    _bid_transition,
    _check_amount,
    _check_deletion_duty,
    _check_not_suspended,
    _check_payment_method,
    _check_verified,
    _trade_create,
)
from marketplace.services.auctions import listings_release
from marketplace.services.webhooks import webhook_events_emit_for

WEBHOOK_OF_TRADE_STATUS: dict[str, str] = {
    Trade.Status.SETTLED: WebhookEventType.TRADE_SETTLED,
    Trade.Status.PAYMENT_FAILED: WebhookEventType.PAYMENT_FAILED,
}


def trade_transition(trade: Trade, to_status: str, reason: str = "") -> None:
    """The one way a trade's status changes. Requires: the trade locked in this transaction."""
    trades_transition([trade], to_status, reason)


def trades_transition(trades: list[Trade], to_status: str, reason: str = "") -> None:
    """`trade_transition` for many locked trades: every one checked, then one UPDATE, one
    INSERT of their events and one of their audit entries (settlement moves whole batches)."""
    for trade in trades:
        if to_status not in Trade.TRANSITIONS[trade.status]:
            raise Conflict("transition_not_allowed", f"A {trade.status} trade cannot become {to_status}.")
    if not trades:
        return
    now = timezone.now()
    TradeEvent.objects.bulk_create(
        TradeEvent(trade=trade, from_status=trade.status, to_status=to_status, reason=reason, occurred_at=now)
        for trade in trades
    )
    Trade.objects.filter(pk__in=[trade.pk for trade in trades]).update(
        status=to_status, status_reason=reason, updated_at=now
    )
    moved = [(trade, trade.status) for trade in trades]
    for trade in trades:
        trade.status, trade.status_reason, trade.updated_at = to_status, reason, now
    audit.record_transitions("trade", moved, to_status, reason=reason, at=now)
    if to_status in WEBHOOK_OF_TRADE_STATUS:
        trade_ids = [t.pk for t in trades]
        webhook_events_emit_for(
            WEBHOOK_OF_TRADE_STATUS[to_status],
            [t.organisation_id for t in trades],
            lambda: webhook_payloads.trades(trade_ids),
        )
    if to_status in Trade.FAILED:
        listing_ids = sorted({t.listing_id for t in trades if t.listing_id is not None})
        if listing_ids:  # after commit, in the system's lock order (the sweep catches a crash)
            transaction.on_commit(lambda: listings_release(listing_ids=listing_ids))


def bid_place(
    *,
    organisation: BuyerOrganisation,
    listing_public_id,
    amount_cents: int | None = None,
    purpose: str | None = None,
) -> Bid:
    """Buy a fixed-price listing now (a trade at once), or place a sealed bid on an auction.

    `purpose` is one of the listing's purposes (default: its first); the licence covers only it.
    """
    _check_verified(organisation)
    with transaction.atomic(durable=True):
        now = timezone.now()
        # the buyer's deletion duty and payment method are read with the listing's lock, in the
        # same statement; the checks still run in _check_buyer's order (deletion duty, payment
        # method, amount, then the listing)
        found = lock_objects.listing_for_bid(
            listing_public_id,
            now,
            buyer_organisation_id=organisation.pk,
            buyer_overdue_notices=selectors.deletion_notices_blocking_bids_count(organisation),
        )
        if found is None:
            _check_deletion_duty(selectors.deletion_notices_blocking_bids(organisation).count())
            _check_payment_method(payments_port.has_payment_method(organisation_id=organisation.pk))
        else:
            _check_deletion_duty(found.buyer_overdue_notices)
            _check_payment_method(found.buyer_has_payment_method)
        if amount_cents is not None:
            _check_amount(amount_cents)
        if found is None:
            raise NotFound("not_found", "No such listing.")
        listing, consented_mask, seller_organisation_id = (
            found.listing,
            found.consented_mask,
            found.seller_organisation_id,
        )
        if listing.status != Listing.Status.ACTIVE:
            raise Conflict("listing_not_open", "This listing is not open for bids.")
        if purpose is not None and purpose not in listing.purposes:
            raise InvalidInput(
                "purpose_not_offered",
                f"This listing is offered for: {', '.join(listing.purposes)}.",
                field="purpose",
            )
        _check_seller_side(listing, organisation, consented_mask, seller_organisation_id)
        common = {
            "organisation": organisation,
            "listing": listing,
            "purpose": purpose or listing.purposes[0],
            "licence_days": listing.licence_days,
            "currency": listing.currency,
            "amount_set_at": now,
            "created_at": now,
        }
        if listing.pricing_mode == Listing.PricingMode.FIXED:
            if amount_cents is not None and amount_cents != listing.floor_price_cents:
                raise InvalidInput(
                    "price_mismatch", "Buy now pays exactly the listed price.", field="amount_cents"
                )
            bid = _bid_insert(Bid(kind=Bid.Kind.BUY_NOW, amount_cents=listing.floor_price_cents, **common))
            _bid_transition(bid, Bid.Status.WON, "bought now")
            listing_services.listing_hold_locked(listing, reason="bought now: payment in progress")
            _trade_create(
                bid,
                price_per_record=listing.floor_price_cents,
                sellers=[(listing.seller_id, listing.categories_mask)],
                listing=listing,
            )
            return bid
        if now >= cast(datetime, listing.auction_ends_at):  # an auction has its end
            raise Conflict("auction_closed", "This auction has ended.")
        if amount_cents is None:
            raise InvalidInput("amount_required", "A sealed bid needs an amount.", field="amount_cents")
        if amount_cents < listing.floor_price_cents:
            raise InvalidInput(
                "below_floor", "Bids start at the listing's floor price.", field="amount_cents"
            )
        try:
            # no savepoint: on a duplicate the Conflict leaves and rolls back the whole transaction
            bid = _bid_insert(Bid(kind=Bid.Kind.AUCTION, amount_cents=amount_cents, **common))
        except IntegrityError:
            raise Conflict(
                "bid_exists", "Your organisation already has an open bid here: raise or cancel it."
            ) from None
    return bid


def _bid_insert(bid: Bid) -> Bid:
    """Insert a new open bid and its `open` event. Requires: the listing locked (listing_for_bid)."""
    bid.save(force_insert=True)
    BidEvent.objects.create(
        bid=bid, to_status=Bid.Status.OPEN, amount_cents=bid.amount_cents, occurred_at=bid.created_at
    )
    return bid


def _check_seller_side(
    listing: Listing,
    organisation: BuyerOrganisation,
    consented_mask: int,
    seller_organisation_id: int | None,
) -> None:
    """Refuse a bid on a listing whose consent no longer holds now (listing_missing_consent's
    rule: every category x every purpose), or whose seller is a member of the organisation.

    `consented_mask`: the seller's (category, purpose) pairs valid now, read with the listing's lock
    (lock_objects.listing_for_bid). A listing stays active up to a sweep interval after its
    consent expires; this closes that window. (Sellers have no organisation, a database
    constraint: the second rule is a guard should members ever sell.)
    """
    required = taxonomy.pairs_mask(listing.categories, listing.purposes)
    if consented_mask & required != required:
        raise Conflict("listing_not_open", "This listing is not open for bids.")
    if seller_organisation_id == organisation.pk:
        raise Forbidden("own_data", "An organisation cannot buy its own members' data.")


def _locked_own_open_bid(organisation: BuyerOrganisation, bid_public_id) -> tuple[Listing | None, Bid]:
    """Lock (listing, then bid) one of the organisation's open bids; 404 for anyone else's.

    Requires: an open transaction. The listing is locked first (the system's lock order), so a
    raise or a cancel cannot slip past the auction close.
    """
    row = (
        Bid.objects.filter(public_id=bid_public_id, organisation=organisation)
        .values_list("pk", "listing_id")
        .first()
    )
    if row is None:
        raise NotFound("not_found", "No such bid.")
    bid_id, listing_id = row
    listing = None
    if listing_id is not None:
        listing = listing_locks.listing(listing_id)
    (bid,) = lock_objects.bids(Bid.objects.filter(pk=bid_id))
    if bid.status != Bid.Status.OPEN:
        raise Conflict("bid_not_open", f"This bid is {bid.status}.")
    if listing is not None and (
        listing.status != Listing.Status.ACTIVE
        or (listing.auction_ends_at is not None and timezone.now() >= listing.auction_ends_at)
    ):
        raise Conflict("auction_closed", "This auction has ended.")
    return listing, bid


def bid_raise(*, organisation: BuyerOrganisation, bid_public_id, amount_cents: int) -> Bid:
    """Raising is bidding: refused, like a new bid, while deletion notices are overdue."""
    _check_amount(amount_cents)
    _check_not_suspended(organisation)
    _check_deletion_duty(selectors.deletion_notices_blocking_bids(organisation).count())
    with transaction.atomic(durable=True):
        _listing, bid = _locked_own_open_bid(organisation, bid_public_id)
        if bid.kind != Bid.Kind.AUCTION:
            raise Conflict("not_an_auction_bid", "Only auction bids can be raised.")
        if amount_cents <= bid.amount_cents:
            raise InvalidInput(
                "raise_too_low", "A raise must be above your current bid.", field="amount_cents"
            )
        bid.amount_cents, bid.amount_set_at = amount_cents, timezone.now()
        bid.save(update_fields=["amount_cents", "amount_set_at"])
        BidEvent.objects.create(
            bid=bid, from_status=bid.status, to_status=bid.status, amount_cents=amount_cents, reason="raised"
        )
    return bid


def bid_cancel(*, organisation: BuyerOrganisation, bid_public_id) -> Bid:
    with transaction.atomic(durable=True):
        _listing, bid = _locked_own_open_bid(organisation, bid_public_id)
        _bid_transition(bid, Bid.Status.CANCELLED, "cancelled by the buyer")
    return bid
