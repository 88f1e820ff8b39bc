"""Row locks for marketplace: bids, trades, trade lines and access grants, in the system's one
order (core.locks.LOCK_ORDER, after consent grants and listings, which accounts.lock_objects and
listings.lock_objects lock). Every helper goes through `core.locks.lock_rows` (pk order, own
table only, evaluated)."""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import QuerySet

from accounts.models import ConsentGrant, User
from accounts.selectors import consent_valid_q
from core.locks import lock_rows
from listings import lock_objects as listing_locks
from listings.models import Listing
from marketplace.models import AccessGrant, Bid, Trade, TradeLine


def listing_by_public_id(public_id) -> Listing | None:
    return listing_locks.listing_by_public_id(public_id)


# The listing locked, with what a bid checks about its seller, in one round trip (PostgreSQL):
# the (category, purpose) pairs of the seller's consents valid at `at` (consent_valid_q's rule)
# and the seller's organisation (for the own-data rule). Only the listing row is locked.
_LISTING_FOR_BID_SQL = """
SELECT l.*, u.organisation_id AS seller_organisation_id,
       ARRAY(SELECT g.category || ':' || g.purpose FROM accounts_consentgrant g
             WHERE g.seller_id = l.seller_id AND g.granted_at <= %(at)s AND g.expires_at > %(at)s
               AND (g.ended_at IS NULL OR g.ended_at > %(at)s)) AS consented_pairs
FROM listings_listing l JOIN accounts_user u ON u.id = l.seller_id
WHERE l.public_id = %(public_id)s
FOR UPDATE OF l
"""


def listing_for_bid(public_id, at) -> tuple[Listing, set[tuple[str, str]], int | None] | None:
    """(listing locked, its seller's consented (category, purpose) pairs at `at`, the seller's
    organisation id), or None when there is no such listing."""
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        return None
    if connection.vendor == "postgresql":
        rows = list(Listing.objects.raw(_LISTING_FOR_BID_SQL, {"public_id": public_id, "at": at}))
        if not rows:
            return None
        listing = rows[0]
        pairs = {tuple(pair.split(":", 1)) for pair in listing.consented_pairs}
        return listing, pairs, listing.seller_organisation_id
    listing = listing_by_public_id(public_id)
    if listing is None:
        return None
    pairs = set(
        ConsentGrant.objects.filter(seller_id=listing.seller_id)
        .filter(consent_valid_q(at))
        .values_list("category", "purpose")
    )
    organisation_id = (
        User.objects.filter(pk=listing.seller_id).values_list("organisation_id", flat=True).first()
    )
    return listing, pairs, organisation_id


def bids(queryset: QuerySet[Bid]) -> list[Bid]:
    return lock_rows(queryset)


def trades(queryset: QuerySet[Trade]) -> list[Trade]:
    return lock_rows(queryset)


def trade_lines(queryset: QuerySet[TradeLine]) -> list[TradeLine]:
    return lock_rows(queryset)


def access_grants(queryset: QuerySet[AccessGrant]) -> list[AccessGrant]:
    return lock_rows(queryset)
