"""Revocation reaches buyers: the consent hook, deletion notices, and access grant expiry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import taxonomy
from accounts.hooks import CONSENT_ENDING_REASONS, ConsentChange
from accounts.models import BuyerOrganisation
from config.lookups import Ids
from core.errors import Conflict, NotFound
from marketplace import lock_objects
from marketplace.models import AccessGrant, Bid, DeletionNotice, Trade, TradeLine
from marketplace.services._common import _bid_transition


def on_consent_change(changes: Sequence[ConsentChange], reason: str) -> None:
    """Registered with accounts.hooks at stage MARKETPLACE: runs in the consent transaction after listings' handler.

    When consent for a category × purpose ends: open bids on the seller's listings that need it
    are cancelled, unsettled trade lines for it voided, access grants to it revoked, and one
    deletion notice is created per buyer organisation that received the data.
    """
    if reason not in CONSENT_ENDING_REASONS:
        return
    ended: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for change in changes:
        ended[change.seller_id].add((change.category, change.purpose))
    sellers = Ids(ended)

    def hit(seller_id: int, categories_mask: int, purposes: list[str]) -> bool:
        categories = taxonomy.codes_of(categories_mask, taxonomy.CATEGORY_CODES)
        return any((c, p) in ended[seller_id] for c in categories for p in purposes)

    open_bids = lock_objects.bids(
        Bid.objects.filter(listing__seller_id__any=sellers, status=Bid.Status.OPEN).select_related("listing")
    )
    for bid in open_bids:
        if hit(bid.listing.seller_id, bid.listing.categories_mask, bid.listing.purposes):
            _bid_transition(bid, Bid.Status.CANCELLED, f"seller consent {reason}")

    lines = lock_objects.trade_lines(
        TradeLine.objects.filter(
            seller_id__any=sellers, status=TradeLine.Status.PENDING, trade__status__in=Trade.UNSETTLED
        ).select_related("trade")
    )
    for line in lines:
        if hit(line.seller_id, line.categories_mask, [line.trade.purpose]):
            line.status, line.status_reason = TradeLine.Status.VOIDED, f"consent {reason}"
            line.save(update_fields=["status", "status_reason"])

    now = timezone.now()
    grants = lock_objects.access_grants(
        AccessGrant.objects.filter(seller_id__any=sellers, status=AccessGrant.Status.ACTIVE)
    )
    notices: dict[tuple[int, int], int] = defaultdict(int)
    for grant in grants:
        if hit(grant.seller_id, grant.categories_mask, [grant.purpose]):
            grant.status, grant.revoked_at, grant.revoked_reason = (
                AccessGrant.Status.REVOKED,
                now,
                f"consent {reason}",
            )
            grant.save(update_fields=["status", "revoked_at", "revoked_reason"])
            notices[(grant.organisation_id, grant.seller_id)] |= grant.categories_mask
    DeletionNotice.objects.bulk_create(
        DeletionNotice(
            organisation_id=organisation_id,
            seller_id=seller_id,
            categories_mask=mask,
            reason=reason,
            created_at=now,
            deadline=now + timedelta(days=settings.DELETION_NOTICE_DAYS),
        )
        for (organisation_id, seller_id), mask in sorted(notices.items())
    )


def deletion_notice_acknowledge(*, organisation: BuyerOrganisation, notice_public_id) -> DeletionNotice:
    with transaction.atomic(durable=True):
        notice = (
            DeletionNotice.objects.select_for_update()
            .filter(public_id=notice_public_id, organisation=organisation)
            .first()
        )
        if notice is None:
            raise NotFound("notice_not_found", "No such deletion notice.")
        if notice.status == DeletionNotice.Status.ACKNOWLEDGED:
            raise Conflict("already_acknowledged", "This notice was already acknowledged.")
        notice.status, notice.acknowledged_at = DeletionNotice.Status.ACKNOWLEDGED, timezone.now()
        notice.save(update_fields=["status", "acknowledged_at"])
    return notice


def deletion_notices_flag_overdue(*, now: datetime | None = None) -> int:
    """Notices past their deadline become overdue (moderators follow them in the admin)."""
    return DeletionNotice.objects.filter(
        status=DeletionNotice.Status.SENT, deadline__lt=now or timezone.now()
    ).update(status=DeletionNotice.Status.OVERDUE)


def access_grants_expire(*, now: datetime | None = None) -> int:
    """Licences past their end: active → expired (set-based; reads already check ends_at)."""
    return AccessGrant.objects.filter(
        status=AccessGrant.Status.ACTIVE, ends_at__lte=now or timezone.now()
    ).update(status=AccessGrant.Status.EXPIRED)
