"""Reads for the marketplace: a buyer sees only its own rows; a seller sees who bought their data."""

from __future__ import annotations

import hashlib
import hmac
import operator
import uuid
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Max, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import taxonomy
from accounts.models import BuyerOrganisation, ConsentGrant, User
from accounts.selectors import consent_valid_q
from listings.selectors import percentiles
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice, Report, Trade, TradeLine


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


SETTLEMENT_REFERENCE_PREFIX = "settlement-batch:"


def trades_of_payment_reference(organisation: BuyerOrganisation, reference: str) -> QuerySet[Trade]:
    """The trades one payment paid for: a payment's reference names its settlement batch
    (SettlementBatch.payment_reference). Other references pay for no trade."""
    batch_id = reference.removeprefix(SETTLEMENT_REFERENCE_PREFIX)
    if not reference.startswith(SETTLEMENT_REFERENCE_PREFIX) or not batch_id.isdigit():
        return trades_of(organisation).none()
    return trades_of(organisation).filter(batch_id=int(batch_id))


def trades_by_payment_reference(
    organisation: BuyerOrganisation, references: list[str]
) -> dict[str, list[Trade]]:
    """{reference: its trades} for a page of payments, in one query."""
    batch_ids = {
        int(ref.removeprefix(SETTLEMENT_REFERENCE_PREFIX)): ref
        for ref in references
        if ref.startswith(SETTLEMENT_REFERENCE_PREFIX)
        and ref.removeprefix(SETTLEMENT_REFERENCE_PREFIX).isdigit()
    }
    found: dict[str, list[Trade]] = {ref: [] for ref in references}
    for trade in trades_of(organisation).filter(batch_id__in=list(batch_ids)):
        if trade.batch_id is not None:
            found[batch_ids[trade.batch_id]].append(trade)
    return found


def access_grants_of(organisation: BuyerOrganisation) -> QuerySet[AccessGrant]:
    return (
        AccessGrant.objects.filter(organisation=organisation)
        .select_related("trade_line__trade")
        .order_by("-starts_at", "-pk")
    )


def readable_grants(organisation: BuyerOrganisation, trade_public_id: uuid.UUID) -> QuerySet[AccessGrant]:
    """The grants of the organisation's trade that it may read now: active and inside the licence
    (none for another organisation's trade)."""
    return AccessGrant.objects.filter(
        organisation=organisation,
        trade_line__trade__public_id=trade_public_id,
        status=AccessGrant.Status.ACTIVE,
        ends_at__gt=timezone.now(),
    ).order_by("pk")


def grants_consented_now(grants: list[AccessGrant], at: datetime | None = None) -> set[int]:
    """Ids of the grants whose seller's consent holds at `at` for every category x the purpose.

    One query for any number of grants. The consent sweep revokes grants within a minute of an
    expiry; this closes that minute, so no read ever serves data whose consent has ended.
    (A separate query costs less CPU than the same check as a subquery of the grants' page:
    Django resolves an annotated aggregate subquery slowly; bench/README.md, bench-api.)
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


CLEARING_PRICES_KEPT = 1_000  # the most recent lines per category


def _recent_lines(category: str, window: timedelta) -> QuerySet[TradeLine]:
    bit = taxonomy.mask_of([category], taxonomy.CATEGORY_CODES)
    return (
        TradeLine.objects.filter(
            status=TradeLine.Status.DELIVERED,
            trade__status=Trade.Status.SETTLED,
            trade__updated_at__gte=timezone.now() - window,
        )
        .alias(has=ExpressionWrapper(F("categories_mask").bitand(bit), output_field=BigIntegerField()))
        .filter(has=bit)
        .order_by("-trade__updated_at")
    )


def clearing_prices(category: str, window: timedelta) -> list[int]:
    """Per-record prices paid for `category` in settled trades of the last `window` (the latest
    CLEARING_PRICES_KEPT lines), each line's price shared equally among its categories.
    Registered with listings.valuation."""
    lines = _recent_lines(category, window).values_list("price_cents", "categories_mask")
    return [price // max(1, bin(mask).count("1")) for price, mask in lines[:CLEARING_PRICES_KEPT]]


def clearing_prices_many(categories: list[str], window: timedelta) -> dict[str, list[int]]:
    """`clearing_prices` of several categories in one query (a UNION ALL of the per-category
    reads, each with its own ORDER BY and LIMIT) where the database allows it, else one query per
    category. Registered with listings.valuation, for pages that value every category at once."""
    if len(categories) < 2 or not connection.features.supports_slicing_ordering_in_compound:
        return {category: clearing_prices(category, window) for category in categories}
    parts = [
        _recent_lines(category, window)
        .annotate(category=Value(category))
        .values_list("category", "price_cents", "categories_mask")[:CLEARING_PRICES_KEPT]
        for category in categories
    ]
    prices: dict[str, list[int]] = {category: [] for category in categories}
    for category, price, mask in parts[0].union(*parts[1:], all=True):
        prices[category].append(price // max(1, bin(mask).count("1")))
    return prices


def _categories_in(mask: F) -> Greatest:
    """How many categories a bitmask holds, in SQL (PostgreSQL and SQLite alike), at least 1."""
    bits = [mask.bitrightshift(i).bitand(1) for i in range(len(taxonomy.CATEGORY_CODES))]
    return Greatest(reduce(operator.add, bits), Value(1))


def paid_per_record(categories: list[str], window: timedelta) -> dict[str, dict]:
    """What buyers paid per record in settled trades of the last `window`, per category: the
    number of trades and the p25 / median / p75 price in cents (None without trades). A line's
    price is shared equally among its categories, as in `clearing_prices`. One aggregate query:
    percentile_cont per category on PostgreSQL, its Python twin elsewhere. Registered with
    listings.valuation."""
    bits = {c: taxonomy.mask_of([c], taxonomy.CATEGORY_CODES) for c in categories}
    if not bits:
        return {}
    lines = lines_paid(bits, window)
    if connection.vendor == "postgresql":
        return _paid_in_sql(lines, bits)
    return paid_in_python(lines, bits)


def lines_paid(bits: dict[str, int], window: timedelta) -> QuerySet:
    """Delivered lines of trades settled in the last `window` holding any of `bits`, with their
    trade, categories and price per record."""
    return (
        TradeLine.objects.filter(
            status=TradeLine.Status.DELIVERED,
            trade__status=Trade.Status.SETTLED,
            trade__updated_at__gte=timezone.now() - window,
        )
        .alias(
            has=ExpressionWrapper(
                F("categories_mask").bitand(sum(bits.values())), output_field=BigIntegerField()
            )
        )
        .filter(has__gt=0)
        .annotate(
            per_record=ExpressionWrapper(
                F("price_cents") / _categories_in(F("categories_mask")), output_field=BigIntegerField()
            )
        )
        .values("trade_id", "categories_mask", "per_record")
    )


def _paid_in_sql(lines: QuerySet, bits: dict[str, int]) -> dict[str, dict]:
    sql, params = lines.query.sql_with_params()
    columns = ", ".join(
        "count(DISTINCT trade_id) FILTER (WHERE categories_mask & %s <> 0), "
        "percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY per_record) "
        "FILTER (WHERE categories_mask & %s <> 0)"
        for _category in bits
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM ({sql}) lines",
            [bit for bit in bits.values() for _twice in (1, 2)] + list(params),
        )
        row = cursor.fetchone()
    figures = {}
    for index, category in enumerate(bits):
        trades, quartiles = row[2 * index], row[2 * index + 1]
        figures[category] = _figures(trades, [round(q) for q in quartiles] if quartiles else None)
    return figures


def paid_in_python(lines: QuerySet, bits: dict[str, int]) -> dict[str, dict]:
    """The Python twin of the aggregate (SQLite has no percentile_cont): one query for the lines,
    the same interpolation (`listings.selectors.percentiles`)."""
    rows = list(lines)
    figures = {}
    for category, bit in bits.items():
        mine = [row for row in rows if row["categories_mask"] & bit]
        prices = [row["per_record"] for row in mine]
        trades = len({row["trade_id"] for row in mine})
        figures[category] = _figures(trades, list(percentiles(prices)) if prices else None)
    return figures


def _figures(trades: int, quartiles: list[int] | None) -> dict:
    p25, p50, p75 = quartiles or (None, None, None)
    return {"trades": trades, "p25_cents": p25, "p50_cents": p50, "p75_cents": p75}


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


# ---------------------------------------------------------------------------------------------
# GDPR export (Art. 15 / 20): sales, recipients, reads and deletion notices of one seller,
# registered from MarketplaceConfig.ready. One query per section, whatever the number of trades.
# ---------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def seller_export_sales(seller: User) -> list[dict]:
    """Every trade line on the seller's data, whatever its outcome."""
    lines = (
        TradeLine.objects.filter(seller=seller)
        .select_related("trade__organisation")
        .order_by("trade__created_at", "pk")
    )
    return [
        {
            "trade": str(line.trade.public_id),
            "buyer": line.trade.organisation.legal_name,
            "purpose": line.trade.purpose,
            "categories": line.categories,
            "licence_days": line.trade.licence_days,
            "price_cents": line.price_cents,
            "currency": line.trade.currency,
            "status": line.status,
            "status_reason": line.status_reason,
            "trade_status": line.trade.status,
            "created_at": _iso(line.trade.created_at),
        }
        for line in lines
    ]


def seller_export_recipients(seller: User) -> list[dict]:
    """Art. 15(1)(c): which organisations received which categories, for what purpose, until when."""
    grants = (
        AccessGrant.objects.filter(seller=seller).select_related("organisation").order_by("starts_at", "pk")
    )
    return [
        {
            "access_grant": str(grant.public_id),
            "organisation": grant.organisation.legal_name,
            "organisation_country": grant.organisation.country,
            "categories": grant.categories,
            "purpose": grant.purpose,
            "starts_at": _iso(grant.starts_at),
            "ends_at": _iso(grant.ends_at),
            "status": grant.status,
            "revoked_at": _iso(grant.revoked_at),
            "revoked_reason": grant.revoked_reason,
        }
        for grant in grants
    ]


def seller_export_access_log(seller: User) -> list[dict]:
    """Every read of the seller's purchased data: which organisation, which licence, when."""
    reads = (
        AccessLog.objects.filter(grant__seller=seller)
        .select_related("grant__organisation")
        .order_by("read_at", "pk")
    )
    return [
        {
            "organisation": read.grant.organisation.legal_name,
            "access_grant": str(read.grant.public_id),
            "read_at": _iso(read.read_at),
        }
        for read in reads
    ]


def seller_export_deletion_notices(seller: User) -> list[dict]:
    """What buyers were told to delete, by when, and whether they confirmed it."""
    notices = (
        DeletionNotice.objects.filter(seller=seller)
        .select_related("organisation")
        .order_by("created_at", "pk")
    )
    return [
        {
            "deletion_notice": str(notice.public_id),
            "organisation": notice.organisation.legal_name,
            "categories": notice.categories,
            "reason": notice.reason,
            "created_at": _iso(notice.created_at),
            "deadline": _iso(notice.deadline),
            "status": notice.status,
            "acknowledged_at": _iso(notice.acknowledged_at),
        }
        for notice in notices
    ]


def seller_export_reports(seller: User) -> list[dict]:
    """The reports the seller made about buyer organisations, and what moderators decided."""
    reports = (
        Report.objects.filter(reporter=seller).select_related("organisation").order_by("created_at", "pk")
    )
    return [
        {
            "organisation": report.organisation.legal_name if report.organisation else None,
            "reason": report.reason,
            "details": report.details,
            "created_at": _iso(report.created_at),
            "status": report.status,
            "resolution_note": report.resolution_note,
        }
        for report in reports
    ]


seller_export_sales.covers = ("marketplace.TradeLine", "marketplace.Trade")  # type: ignore[attr-defined]
seller_export_recipients.covers = ("marketplace.AccessGrant",)  # type: ignore[attr-defined]
seller_export_access_log.covers = ("marketplace.AccessLog",)  # type: ignore[attr-defined]
seller_export_deletion_notices.covers = ("marketplace.DeletionNotice",)  # type: ignore[attr-defined]
seller_export_reports.covers = ("marketplace.Report",)  # type: ignore[attr-defined]
# Labels for the codes of these sections, for the My data page (accounts cannot import marketplace).
seller_export_sales.choices = {  # type: ignore[attr-defined]
    "status": dict(TradeLine.Status.choices),
    "trade_status": dict(Trade.Status.choices),
}
seller_export_recipients.choices = {"status": dict(AccessGrant.Status.choices)}  # type: ignore[attr-defined]
seller_export_deletion_notices.choices = {"status": dict(DeletionNotice.Status.choices)}  # type: ignore[attr-defined]
seller_export_deletion_notices.choices["reason"] = {  # type: ignore[attr-defined]
    "revoked": _("Consent withdrawn"),
    "expired": _("Consent expired"),
    "erasure": _("Account erased"),
}


def deletion_notices_blocking_bids(organisation: BuyerOrganisation) -> QuerySet[DeletionNotice]:
    """The organisation's overdue deletion notices that count against bidding: all of them, or,
    after a moderator cleared the block, those whose deadline passed since (index: buyer, status)."""
    notices = DeletionNotice.objects.filter(
        organisation_id=organisation.pk, status=DeletionNotice.Status.OVERDUE
    )
    if organisation.deletion_duty_cleared_at is not None:
        notices = notices.filter(deadline__gt=organisation.deletion_duty_cleared_at)
    return notices


def deletion_notices_blocking_bids_count(organisation: BuyerOrganisation) -> Coalesce:
    """`deletion_notices_blocking_bids(...).count()` as an expression, read within another query
    (the bid's listing lock), so the bid path pays no statement for it."""
    counted = (
        deletion_notices_blocking_bids(organisation)
        .order_by()
        .values("organisation_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)
