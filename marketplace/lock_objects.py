"""Row locks for marketplace: bids, trades, trade lines and access grants, in the system's one
order (core.locks.LOCK_ORDER, after consent grants and listings, which accounts.lock_objects and
listings.lock_objects lock). Every helper goes through `core.locks.lock_rows` (pk order, own
table only, evaluated)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import F, QuerySet

from accounts.selectors import consented_pairs_mask_expression
from core.locks import lock_rows
from listings import lock_objects as listing_locks
from listings.models import Listing
from marketplace import payments_port
from marketplace.models import AccessGrant, Bid, Trade, TradeLine


def listing_by_public_id(public_id) -> Listing | None:
    return listing_locks.listing_by_public_id(public_id)


@dataclass(frozen=True)
class ListingForBid:
    listing: Listing  # locked
    consented_mask: int  # the seller's (category, purpose) pairs valid at `at` (taxonomy.pair_bit)
    seller_organisation_id: int | None
    buyer_has_payment_method: bool  # payments_port.has_payment_method, read in the same statement
    buyer_overdue_notices: int  # selectors.deletion_notices_blocking_bids count, likewise


def listing_for_bid(
    public_id, at, *, buyer_organisation_id: int, buyer_overdue_notices
) -> ListingForBid | None:
    """The listing locked, with what placing a bid on it checks, or None when there is no such
    listing. Only the listing row is locked. `buyer_overdue_notices`: the expression counting the
    buyer's deletion notices that block bidding (selectors.deletion_notices_blocking_bids_count)."""
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        return None
    try:  # public_id is unique: get() needs no ORDER BY, unlike first()
        listing = (
            Listing.objects.select_for_update(of=("self",))
            .annotate(
                seller_organisation_id=F("seller__organisation_id"),
                buyer_has_payment_method=payments_port.has_payment_method_expression(
                    organisation_id=buyer_organisation_id
                ),
                consented_mask=consented_pairs_mask_expression(seller_ref="seller_id", at=at),
                buyer_overdue_notices=buyer_overdue_notices,
            )
            .get(public_id=public_id)
        )
    except Listing.DoesNotExist:
        return None
    return ListingForBid(
        listing=listing,
        consented_mask=listing.consented_mask or 0,
        seller_organisation_id=listing.seller_organisation_id,
        buyer_has_payment_method=listing.buyer_has_payment_method,
        buyer_overdue_notices=listing.buyer_overdue_notices,
    )


def bids(queryset: QuerySet[Bid]) -> list[Bid]:
    return lock_rows(queryset)


def trades(queryset: QuerySet[Trade]) -> list[Trade]:
    return lock_rows(queryset)


def trade_lines(queryset: QuerySet[TradeLine]) -> list[TradeLine]:
    return lock_rows(queryset)


def access_grants(queryset: QuerySet[AccessGrant]) -> list[AccessGrant]:
    return lock_rows(queryset)
