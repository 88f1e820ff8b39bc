"""Reads for the marketplace: a buyer sees only its own rows; a seller sees who bought their data."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.conf import settings
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from accounts.models import BuyerOrganisation, User
from marketplace.models import AccessGrant, Bid, DeletionNotice, Trade, TradeLine


def buyer_pseudonym(organisation_id: int, seller_id: int) -> str:
    """A stable id for a seller, different for every buyer organisation; reveals nothing."""
    digest = hmac.new(
        settings.PSEUDONYM_SECRET.encode(), f"{organisation_id}:{seller_id}".encode(), hashlib.sha256
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def bids_of(organisation: BuyerOrganisation) -> QuerySet[Bid]:
    return (
        Bid.objects.filter(organisation=organisation).select_related("listing").order_by("-created_at", "-pk")
    )


def trades_of(organisation: BuyerOrganisation) -> QuerySet[Trade]:
    return (
        Trade.objects.filter(organisation=organisation)
        .select_related("listing", "bid")
        .annotate(records=Count("lines"))
        .order_by("-created_at", "-pk")
    )


def access_grants_of(organisation: BuyerOrganisation) -> QuerySet[AccessGrant]:
    return (
        AccessGrant.objects.filter(organisation=organisation)
        .select_related("trade_line__trade")
        .order_by("-starts_at", "-pk")
    )


def readable_grants(organisation: BuyerOrganisation, trade: Trade) -> QuerySet[AccessGrant]:
    """The trade's grants the buyer may read now: active and inside the licence."""
    return AccessGrant.objects.filter(
        organisation=organisation,
        trade_line__trade=trade,
        status=AccessGrant.Status.ACTIVE,
        ends_at__gt=timezone.now(),
    ).order_by("pk")


def deletion_notices_of(organisation: BuyerOrganisation) -> QuerySet[DeletionNotice]:
    return DeletionNotice.objects.filter(organisation=organisation).order_by("-created_at", "-pk")


def seller_sales(*, seller: User) -> QuerySet[TradeLine]:
    """ "Who bought my data": each purchase of the seller's data with its licence and reads."""
    return (
        TradeLine.objects.filter(
            seller=seller, trade__status__in=[Trade.Status.DELIVERED, Trade.Status.SETTLED]
        )
        .exclude(status=TradeLine.Status.VOIDED)
        .select_related("trade__organisation", "access_grant")
        .annotate(reads=Count("access_grant__reads"), last_read=Max("access_grant__reads__read_at"))
        .order_by("-trade__created_at", "-pk")
    )
