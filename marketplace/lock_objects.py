"""Row locks for marketplace, in the system's one order:
ConsentGrant → Listing → Bid → Trade → Payout. Each helper orders by pk and locks only its table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import F, QuerySet

from accounts.models import ConsentGrant
from accounts.selectors import consent_valid_q
from listings.models import Listing
from marketplace.models import AccessGrant, Bid, Trade, TradeLine


def consent_grants_of_sellers(seller_ids: Iterable[int]) -> list[ConsentGrant]:
    return list(
        ConsentGrant.objects.select_for_update()
        .filter(seller_id__in=list(seller_ids), status=ConsentGrant.Status.ACTIVE)
        .order_by("pk")
    )


def listings(queryset: QuerySet[Listing]) -> list[Listing]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def listing_by_public_id(public_id) -> Listing | None:
    return Listing.objects.select_for_update(of=("self",)).filter(public_id=public_id).first()


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
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def trades(queryset: QuerySet[Trade]) -> list[Trade]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def trade_lines(queryset: QuerySet[TradeLine]) -> list[TradeLine]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def access_grants(queryset: QuerySet[AccessGrant]) -> list[AccessGrant]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))
