"""Reads for the marketplace: a buyer sees only its own rows; a seller sees who bought their data."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Max, Q, QuerySet
from django.utils import timezone

from accounts import taxonomy
from accounts.models import BuyerOrganisation, ConsentGrant, User
from accounts.selectors import consent_valid_q
from marketplace.models import AccessGrant, Bid, DeletionNotice, Trade, TradeLine


def buyer_pseudonym(organisation_id: int, seller_id: int) -> str:
    """A stable id for a seller, different for every buyer organisation; reveals nothing."""
    digest = hmac.new(
        settings.PSEUDONYM_SECRET.encode(), f"{organisation_id}:{seller_id}".encode(), hashlib.sha256
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def bids_of(organisation: BuyerOrganisation) -> QuerySet[Bid]:
    return (
        Bid.objects.filter(organisation=organisation)
        .select_related("listing", "trade")
        .order_by("-created_at", "-pk")
    )


def trades_of(organisation: BuyerOrganisation) -> QuerySet[Trade]:
    """The organisation's trades; `records` counts the lines not voided."""
    return (
        Trade.objects.filter(organisation=organisation)
        .select_related("listing", "bid")
        .annotate(records=Count("lines", filter=~Q(lines__status=TradeLine.Status.VOIDED)))
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


def grants_consented_now(grants: list[AccessGrant], at: datetime | None = None) -> set[int]:
    """Ids of the grants whose seller's consent holds at `at` for every category x the purpose.

    One query for any number of grants. The consent sweep revokes grants within a minute of an
    expiry; this closes that minute, so no read ever serves data whose consent has ended.
    """
    if not grants:
        return set()
    held = set(
        ConsentGrant.objects.filter(seller_id__in={g.seller_id for g in grants})
        .filter(consent_valid_q(at or timezone.now()))
        .values_list("seller_id", "category", "purpose")
    )
    return {
        g.pk for g in grants if all((g.seller_id, category, g.purpose) in held for category in g.categories)
    }


def deletion_notices_of(organisation: BuyerOrganisation) -> QuerySet[DeletionNotice]:
    return DeletionNotice.objects.filter(organisation=organisation).order_by("-created_at", "-pk")


def seller_sales(*, seller: User) -> QuerySet[TradeLine]:
    """ "Who bought my data": every licence delivered on the seller's data (whatever became of the
    trade since: settled, refunded or disputed, the buyer received it), with the buyer
    organisation, purpose, categories, price, date, licence end, number of reads and last read."""
    return (
        TradeLine.objects.filter(seller=seller, status=TradeLine.Status.DELIVERED)
        .select_related("trade__organisation", "access_grant")
        .annotate(reads=Count("access_grant__reads"), last_read=Max("access_grant__reads__read_at"))
        .order_by("-trade__created_at", "-pk")
    )


def clearing_prices(category: str, window: timedelta) -> list[int]:
    """Per-record prices paid for `category` in settled trades of the last `window`, each line's
    price shared equally among its categories. Registered with listings.valuation."""
    bit = taxonomy.mask_of([category], taxonomy.CATEGORY_CODES)
    lines = (
        TradeLine.objects.filter(
            status=TradeLine.Status.DELIVERED,
            trade__status=Trade.Status.SETTLED,
            trade__updated_at__gte=timezone.now() - window,
        )
        .alias(has=ExpressionWrapper(F("categories_mask").bitand(bit), output_field=BigIntegerField()))
        .filter(has=bit)
        .order_by("-trade__updated_at")
        .values_list("price_cents", "categories_mask")[:1000]
    )
    return [price // max(1, bin(mask).count("1")) for price, mask in lines]


def organisations_failing_payments(*, since: datetime | None = None) -> dict[int, int]:
    """Buyer organisations with at least PAYMENT_FAILURES_FLAG failed trades since `since`
    (default: the last 30 days): {organisation id: failures}. Moderators see them flagged."""
    since = since or timezone.now() - timedelta(days=30)
    rows = (
        Trade.objects.filter(status=Trade.Status.PAYMENT_FAILED, updated_at__gte=since)
        .values("organisation_id")
        .annotate(failures=Count("pk"))
        .filter(failures__gte=settings.PAYMENT_FAILURES_FLAG)
    )
    return {row["organisation_id"]: row["failures"] for row in rows}
