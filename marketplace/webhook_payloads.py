"""The `data.object` of each webhook event: the object as the API shows it (public ids and
pseudonyms, never our primary keys), built set-based — one query per batch of objects, whatever
its size — inside the transaction that changed them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count, Q

from marketplace.models import AccessGrant, Bid, DeletionNotice, Trade
from marketplace.selectors import buyer_pseudonym

Objects = list[tuple[int, dict]]  # (organisation id, object), in the order asked


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _uuid(value) -> str | None:
    return str(value) if value is not None else None


def bids(bid_ids: Sequence[int]) -> Objects:
    rows = {
        row["pk"]: row
        for row in Bid.objects.filter(pk__in=bid_ids).values(
            "pk",
            "organisation_id",
            "public_id",
            "kind",
            "listing__public_id",
            "trade__public_id",
            "amount_cents",
            "currency",
            "purpose",
            "licence_days",
            "status",
            "status_reason",
            "created_at",
        )
    }
    return [
        (
            row["organisation_id"],
            {
                "object": "bid",
                "id": str(row["public_id"]),
                "kind": row["kind"],
                "listing": _uuid(row["listing__public_id"]),
                "trade": _uuid(row["trade__public_id"]),
                "amount_cents": row["amount_cents"],
                "currency": row["currency"],
                "purpose": row["purpose"],
                "licence_days": row["licence_days"],
                "status": row["status"],
                "status_reason": row["status_reason"],
                "created_at": _iso(row["created_at"]),
            },
        )
        for row in (rows[pk] for pk in bid_ids if pk in rows)
    ]


def trades(trade_ids: Sequence[int]) -> Objects:
    rows = {
        row["pk"]: row
        for row in Trade.objects.filter(pk__in=trade_ids)
        .annotate(records=Count("lines", filter=~Q(lines__status="voided")))
        .values(
            "pk",
            "organisation_id",
            "public_id",
            "bid__public_id",
            "listing__public_id",
            "purpose",
            "licence_days",
            "price_per_record_cents",
            "currency",
            "records",
            "charged_cents",
            "status",
            "status_reason",
            "created_at",
        )
    }
    return [
        (
            row["organisation_id"],
            {
                "object": "trade",
                "id": str(row["public_id"]),
                "bid": str(row["bid__public_id"]),
                "listing": _uuid(row["listing__public_id"]),
                "purpose": row["purpose"],
                "licence_days": row["licence_days"],
                "price_per_record_cents": row["price_per_record_cents"],
                "currency": row["currency"],
                "records": row["records"],
                "charged_cents": row["charged_cents"],
                "status": row["status"],
                "status_reason": row["status_reason"],
                "created_at": _iso(row["created_at"]),
            },
        )
        for row in (rows[pk] for pk in trade_ids if pk in rows)
    ]


def _notice(notice: DeletionNotice) -> dict:
    return {
        "object": "deletion_notice",
        "id": str(notice.public_id),
        "seller": buyer_pseudonym(notice.organisation_id, notice.seller_id),
        "categories": notice.categories,
        "reason": notice.reason,
        "created_at": _iso(notice.created_at),
        "deadline": _iso(notice.deadline),
        "status": notice.status,
        "acknowledged_at": _iso(notice.acknowledged_at),
    }


def access_grants(grants: Sequence[AccessGrant], notices: Sequence[DeletionNotice]) -> Objects:
    """Revoked grants, each with the deletion notice (and its deadline) that covers it."""
    trade_ids = dict(
        AccessGrant.objects.filter(pk__in=[g.pk for g in grants]).values_list(
            "pk", "trade_line__trade__public_id"
        )
    )
    notice_of = {(n.organisation_id, n.seller_id): n for n in notices}
    objects = []
    for grant in grants:
        notice = notice_of.get((grant.organisation_id, grant.seller_id))
        objects.append(
            (
                grant.organisation_id,
                {
                    "object": "access_grant",
                    "id": str(grant.public_id),
                    "trade": _uuid(trade_ids.get(grant.pk)),
                    "seller": buyer_pseudonym(grant.organisation_id, grant.seller_id),
                    "categories": grant.categories,
                    "purpose": grant.purpose,
                    "starts_at": _iso(grant.starts_at),
                    "ends_at": _iso(grant.ends_at),
                    "status": grant.status,
                    "revoked_at": _iso(grant.revoked_at),
                    "revoked_reason": grant.revoked_reason,
                    "deletion_notice": _notice(notice) if notice is not None else None,
                    "deletion_deadline": _iso(notice.deadline) if notice is not None else None,
                },
            )
        )
    return objects


def deletion_notices(notice_ids: Sequence[int]) -> Objects:
    notices = {n.pk: n for n in DeletionNotice.objects.filter(pk__in=notice_ids)}
    return [(notices[pk].organisation_id, _notice(notices[pk])) for pk in notice_ids if pk in notices]
