"""Reads for the moderators' view of the market: the admin's market dashboard (trades, clearing
prices, payouts, consents, revocations, deletion notices) and the flagged buyers' queue.

Set-based: each figure is one grouped query over a bounded window, so the dashboard costs the
same fixed number of queries whatever the number of trades, consents or payouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts import taxonomy
from accounts.models import BuyerOrganisation, ConsentEvent, ConsentGrant
from accounts.selectors import consent_valid_q
from marketplace.models import AccessGrant, DeletionNotice, Trade, TradeLine
from payments.models import Payout

DAYS = 30


def organisations_flagged(*, since: datetime | None = None) -> QuerySet[BuyerOrganisation]:
    """Buyer organisations moderators should look at: PAYMENT_FAILURES_FLAG or more failed trades
    since `since` (default: the last 30 days), or a deletion notice overdue. One query (two
    subqueries) when counted or listed."""
    since = since or timezone.now() - timedelta(days=30)
    failing = (
        Trade.objects.filter(status=Trade.Status.PAYMENT_FAILED, updated_at__gte=since)
        .order_by()
        .values("organisation_id")
        .annotate(failures=Count("pk"))
        .filter(failures__gte=settings.PAYMENT_FAILURES_FLAG)
        .values("organisation_id")
    )
    overdue = DeletionNotice.objects.filter(status=DeletionNotice.Status.OVERDUE).values("organisation_id")
    return BuyerOrganisation.objects.filter(Q(pk__in=failing) | Q(pk__in=overdue))


@dataclass(frozen=True)
class DailyFigures:
    """A value per day of the window, oldest first, zero on days without any."""

    days: list[date]
    values: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class MarketOverview:
    trades: DailyFigures  # "trades", "value" (cents)
    payouts: DailyFigures  # "payouts", "amount" (cents)
    consents: DailyFigures  # "granted" (granted or renewed), "withdrawn"
    revocations: DailyFigures  # "revoked": buyers' access ended early
    # category code → (average price per record in cents, trade lines) over the window
    clearing_prices: dict[str, tuple[int, int]]
    active_consents: int
    notices_outstanding: int  # sent, deadline not passed yet
    notices_overdue: int


def _window(today: date, days: int) -> list[date]:
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def _daily(days: list[date], rows: list[dict], names: tuple[str, ...]) -> DailyFigures:
    by_day = {row["day"]: row for row in rows}
    return DailyFigures(
        days=days,
        values={name: [int(by_day.get(day, {}).get(name) or 0) for day in days] for name in names},
    )


def _trades_per_day(start: datetime, days: list[date]) -> DailyFigures:
    rows = list(
        Trade.objects.filter(created_at__gte=start)
        .exclude(status__in=Trade.FAILED)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .annotate(
            trades=Count("pk", distinct=True),
            value=Sum("lines__price_cents", filter=~Q(lines__status=TradeLine.Status.VOIDED)),
        )
    )
    return _daily(days, rows, ("trades", "value"))


def _clearing_prices(start: datetime) -> dict[str, tuple[int, int]]:
    """Average price per record of the trade lines holding each category (a line's price buys
    all its categories). Grouped by category mask in SQL: at most 2^categories rows."""
    rows = (
        TradeLine.objects.filter(trade__created_at__gte=start)
        .exclude(status=TradeLine.Status.VOIDED)
        .order_by()
        .values("categories_mask")
        .annotate(total=Sum("price_cents"), lines=Count("pk"))
        .values_list("categories_mask", "total", "lines")
    )
    totals: dict[str, list[int]] = {}
    for mask, total, lines in rows:
        for code in taxonomy.codes_of(mask, taxonomy.CATEGORY_CODES):
            running = totals.setdefault(code, [0, 0])
            running[0] += total
            running[1] += lines
    return {
        code: (total // lines, lines)
        for code in taxonomy.CATEGORY_CODES
        if code in totals
        for total, lines in [totals[code]]
    }


def _payouts_per_day(start: datetime, days: list[date]) -> DailyFigures:
    rows = list(
        Payout.objects.filter(created_at__gte=start)
        .exclude(status__in=[Payout.Status.FAILED, Payout.Status.REVERSED])
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .annotate(payouts=Count("pk"), amount=Sum("amount"))
    )
    return _daily(days, rows, ("payouts", "amount"))


def _consents_per_day(start: datetime, days: list[date]) -> DailyFigures:
    given = [ConsentEvent.Kind.GRANTED, ConsentEvent.Kind.RENEWED]
    rows = list(
        ConsentEvent.objects.filter(occurred_at__gte=start)
        .annotate(day=TruncDate("occurred_at"))
        .order_by()
        .values("day")
        .annotate(
            granted=Count("pk", filter=Q(kind__in=given)),
            withdrawn=Count("pk", filter=Q(kind=ConsentEvent.Kind.REVOKED)),
        )
    )
    return _daily(days, rows, ("granted", "withdrawn"))


def _revocations_per_day(start: datetime, days: list[date]) -> DailyFigures:
    rows = list(
        AccessGrant.objects.filter(status=AccessGrant.Status.REVOKED, revoked_at__gte=start)
        .annotate(day=TruncDate("revoked_at"))
        .order_by()
        .values("day")
        .annotate(revoked=Count("pk"))
    )
    return _daily(days, rows, ("revoked",))


def market_overview(*, days: int = DAYS, now: datetime | None = None) -> MarketOverview:
    """The market over the last `days` days (today included): seven queries, whatever the data."""
    now = timezone.localtime(now or timezone.now())
    window = _window(now.date(), days)
    start = timezone.make_aware(datetime.combine(window[0], datetime.min.time()))
    notices = DeletionNotice.objects.filter(
        status__in=[DeletionNotice.Status.SENT, DeletionNotice.Status.OVERDUE]
    ).aggregate(
        outstanding=Count("pk", filter=Q(status=DeletionNotice.Status.SENT)),
        overdue=Count("pk", filter=Q(status=DeletionNotice.Status.OVERDUE)),
    )
    return MarketOverview(
        trades=_trades_per_day(start, window),
        payouts=_payouts_per_day(start, window),
        consents=_consents_per_day(start, window),
        revocations=_revocations_per_day(start, window),
        clearing_prices=_clearing_prices(start),
        active_consents=ConsentGrant.objects.filter(consent_valid_q(now)).count(),
        notices_outstanding=notices["outstanding"],
        notices_overdue=notices["overdue"],
    )
