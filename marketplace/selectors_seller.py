"""Reads for the seller's pages (dashboard, earnings, who bought my data).

Every function is a fixed number of aggregate queries, whatever the number of trades: the pages
that call them keep the same query count for a seller with 10 or 10,000 sales.

Earnings are the seller's share (the price less the platform fee, rounded as payments.money
does) of every delivered line of a settled trade, dated by the sale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone

from accounts import taxonomy
from accounts.models import ConsentGrant, User
from listings.models import Listing
from marketplace.models import DeletionNotice, Trade, TradeLine

PENDING_NOTICE_STATUSES = (DeletionNotice.Status.SENT, DeletionNotice.Status.OVERDUE)


def _net() -> ExpressionWrapper:
    """A line's share for the seller: price − round_half_up(price × fee_bps / 10,000)."""
    fee = ExpressionWrapper(
        (F("price_cents") * F("trade__fee_bps") + Value(5_000)) / Value(10_000),
        output_field=BigIntegerField(),
    )
    return ExpressionWrapper(F("price_cents") - fee, output_field=BigIntegerField())


def _earned_lines(seller: User) -> QuerySet[TradeLine]:
    """The seller's settled sales."""
    return TradeLine.objects.filter(
        seller=seller, status=TradeLine.Status.DELIVERED, trade__status=Trade.Status.SETTLED
    )


def month_start(at: datetime | None = None) -> datetime:
    local = timezone.localtime(at)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _months_back(start: datetime, months: int) -> datetime:
    year, month = divmod(start.year * 12 + start.month - 1 - months, 12)
    return start.replace(year=year, month=month + 1)


@dataclass(frozen=True)
class DashboardFigures:
    active_consents: int
    next_consent_expiry: datetime | None
    listings_by_status: dict[str, int]
    earned_this_month: int
    last_buyer: str | None
    last_sale_at: datetime | None
    pending_notices: int
    overdue_notices: int


def seller_dashboard_figures(*, seller: User) -> DashboardFigures:
    """Five queries: consents, listings, this month's earnings, the last sale, notices."""
    now = timezone.now()
    consents = ConsentGrant.objects.filter(
        seller=seller, status=ConsentGrant.Status.ACTIVE, expires_at__gt=now
    ).aggregate(n=Count("pk"), next=Min("expires_at"))
    listings = dict(
        Listing.objects.filter(seller=seller)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    earned = _earned_lines(seller).filter(trade__created_at__gte=month_start(now)).aggregate(t=Sum(_net()))
    last = (
        TradeLine.objects.filter(seller=seller, status=TradeLine.Status.DELIVERED)
        .order_by("-trade__created_at", "-pk")
        .values_list("trade__organisation__legal_name", "trade__created_at")
        .first()
    )
    notices = DeletionNotice.objects.filter(seller=seller, status__in=PENDING_NOTICE_STATUSES).aggregate(
        n=Count("pk"), overdue=Count("pk", filter=Q(status=DeletionNotice.Status.OVERDUE))
    )
    return DashboardFigures(
        active_consents=consents["n"],
        next_consent_expiry=consents["next"],
        listings_by_status=listings,
        earned_this_month=earned["t"] or 0,
        last_buyer=last[0] if last else None,
        last_sale_at=last[1] if last else None,
        pending_notices=notices["n"],
        overdue_notices=notices["overdue"],
    )


def seller_earnings_by_month(*, seller: User, months: int = 12) -> list[tuple[date, int]]:
    """(first day of the month, earned) for the last `months` months, oldest first, zeros kept."""
    start = month_start()
    first = _months_back(start, months - 1)
    rows = dict(
        _earned_lines(seller)
        .filter(trade__created_at__gte=first)
        .annotate(month=TruncMonth("trade__created_at"))
        .order_by()
        .values("month")
        .annotate(total=Sum(_net()))
        .values_list("month", "total")
    )
    totals = {
        timezone.localtime(month).date() if isinstance(month, datetime) else month: t
        for month, t in rows.items()
    }
    return [
        (day, totals.get(day, 0))
        for day in (_months_back(start, back).date() for back in range(months - 1, -1, -1))
    ]


def seller_earnings_by_category(*, seller: User) -> list[tuple[str, int]]:
    """(category code, earned) biggest first; a sale of several categories is shared equally
    between them (the remainder of the division goes to the first ones)."""
    totals: dict[str, int] = {}
    rows = (
        _earned_lines(seller)
        .order_by()
        .values("categories_mask")
        .annotate(total=Sum(_net()))
        .values_list("categories_mask", "total")
    )
    for mask, total in rows:
        codes = taxonomy.codes_of(mask, taxonomy.CATEGORY_CODES) or ["?"]
        share, rest = divmod(total, len(codes))
        for i, code in enumerate(codes):
            totals[code] = totals.get(code, 0) + share + (1 if i < rest else 0)
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def seller_earnings_by_buyer(*, seller: User, limit: int = 10) -> list[tuple[str, int]]:
    """(buyer organisation's legal name, earned) for the `limit` biggest buyers."""
    return list(
        _earned_lines(seller)
        .order_by()
        .values("trade__organisation_id", "trade__organisation__legal_name")
        .annotate(total=Sum(_net()))
        .order_by("-total", "trade__organisation__legal_name")
        .values_list("trade__organisation__legal_name", "total")[:limit]
    )


def seller_buyer_licences(*, seller: User) -> list[Mapping[str, Any]]:
    """Who bought my data, per buyer organisation, purpose and set of categories: licences
    sold, the latest licence end, active licences, reads and the last read (one query)."""
    rows = (
        TradeLine.objects.filter(seller=seller, status=TradeLine.Status.DELIVERED)
        .order_by()
        .values(
            "trade__organisation_id",
            "trade__organisation__legal_name",
            "trade__organisation__country",
            "trade__purpose",
            "categories_mask",
        )
        .annotate(
            licences=Count("pk", distinct=True),
            active=Count("access_grant", distinct=True, filter=Q(access_grant__status="active")),
            until=Max("access_grant__ends_at"),
            last_sold=Max("trade__created_at"),
            reads=Count("access_grant__reads"),
            last_read=Max("access_grant__reads__read_at"),
        )
        .order_by("trade__organisation__legal_name", "trade__organisation_id", "-last_sold")
    )
    return list(rows)


def seller_deletion_notices(*, seller: User) -> QuerySet[DeletionNotice]:
    return (
        DeletionNotice.objects.filter(seller=seller)
        .select_related("organisation")
        .order_by("organisation__legal_name", "organisation_id", "-created_at", "-pk")
    )
