"""Row locks for marketplace, in the system's one order:
ConsentGrant → Listing → Bid → Trade → Payout. Each helper orders by pk and locks only its table."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts.models import ConsentGrant
from listings.models import Listing
from marketplace.models import AccessGrant, Bid, Trade, TradeLine


def consent_grants_of_sellers(seller_ids: Iterable[int]) -> list[ConsentGrant]:
    return list(
        ConsentGrant.objects.select_for_update()
        .filter(seller_id__in=list(seller_ids), status=ConsentGrant.Status.ACTIVE)
        .order_by("pk")
    )


def listing_by_public_id(public_id) -> Listing | None:
    return Listing.objects.select_for_update(of=("self",)).filter(public_id=public_id).first()


def bids(queryset: QuerySet[Bid]) -> list[Bid]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def trades(queryset: QuerySet[Trade]) -> list[Trade]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def trade_lines(queryset: QuerySet[TradeLine]) -> list[TradeLine]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def access_grants(queryset: QuerySet[AccessGrant]) -> list[AccessGrant]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))
