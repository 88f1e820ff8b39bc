"""Row locks for marketplace: bids, trades, trade lines and access grants, in the system's one
order (core.locks.LOCK_ORDER, after consent grants and listings, which accounts.lock_objects and
listings.lock_objects lock). Every helper goes through `core.locks.lock_rows` (pk order, own
table only, evaluated)."""

from __future__ import annotations

import uuid

from django.db.models import F, QuerySet

from accounts.models import ConsentGrant
from accounts.selectors import consent_valid_q
from core.locks import lock_rows
from listings import lock_objects as listing_locks
from listings.models import Listing
from marketplace.models import AccessGrant, Bid, Trade, TradeLine


def listing_by_public_id(public_id) -> Listing | None:
    return listing_locks.listing_by_public_id(public_id)


def listing_for_bid(public_id, at) -> tuple[Listing, set[tuple[str, str]], int | None] | None:
    """(listing locked, its seller's consented (category, purpose) pairs at `at`, the seller's
    organisation id), or None when there is no such listing. Only the listing row is locked."""
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        return None
    listing = (
        Listing.objects.select_for_update(of=("self",))
        .annotate(seller_organisation_id=F("seller__organisation_id"))
        .filter(public_id=public_id)
        .first()
    )
    if listing is None:
        return None
    pairs = set(
        ConsentGrant.objects.filter(seller_id=listing.seller_id)
        .filter(consent_valid_q(at))
        .values_list("category", "purpose")
    )
    return listing, pairs, listing.seller_organisation_id


def bids(queryset: QuerySet[Bid]) -> list[Bid]:
    return lock_rows(queryset)


def trades(queryset: QuerySet[Trade]) -> list[Trade]:
    return lock_rows(queryset)


def trade_lines(queryset: QuerySet[TradeLine]) -> list[TradeLine]:
    return lock_rows(queryset)


def access_grants(queryset: QuerySet[AccessGrant]) -> list[AccessGrant]:
    return lock_rows(queryset)
