"""Row locks for listings: a listing is locked after its seller's consent grants and before its
bids (core.locks.LOCK_ORDER). Every helper goes through `core.locks.lock_rows`."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from core.locks import lock_row, lock_rows
from listings.models import Listing


def listings(queryset: QuerySet[Listing]) -> list[Listing]:
    return lock_rows(queryset)


def listing(listing_id: int, *, seller: User | None = None) -> Listing | None:
    """The listing locked (only if it is this seller's, when a seller is given), or None."""
    queryset = Listing.objects.filter(pk=listing_id)
    if seller is not None:
        queryset = queryset.filter(seller=seller)
    return lock_row(queryset)


def listing_by_public_id(public_id) -> Listing | None:
    return lock_row(Listing.objects.filter(public_id=public_id))
