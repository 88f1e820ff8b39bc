"""Trade lines, access grants (licences) and deletion notices: their transition services, the one
builder of an access revocation with its deletion notices, and the sweeps that expire licences
and flag overdue notices. Every status change checks the model's TRANSITIONS table and writes an
event row in the same transaction (core.lifecycles)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import ApiKey, BuyerOrganisation
from core.errors import Conflict, NotFound
from core.lifecycles import transition_rows
from core.locks import claim_rows, lock_row
from marketplace import selectors, webhook_payloads
from marketplace.models import (
    AccessGrant,
    AccessGrantEvent,
    AccessLog,
    DeletionNotice,
    DeletionNoticeEvent,
    TradeLine,
    TradeLineEvent,
    WebhookEventType,
)
from marketplace.services.webhooks import webhook_events_emit, webhook_events_emit_for

SWEEP_BATCH_SIZE = 1000


def records_read(
    *, organisation: BuyerOrganisation, api_key: ApiKey, grants: list[AccessGrant]
) -> list[dict]:
    """The records of these readable grants of the organisation (those whose consent no longer
    holds are left out), precise values decrypted, and one read logged per record returned.

    Constant queries whatever the number of grants: one for consent, one for the data (profiles
    and data keys; one more for life events when bought), one INSERT for the access log
    (autocommitted for one grant; for more, in the transaction bulk_create opens: BEGIN and
    COMMIT).
    """
    consented = selectors.grants_consented_now(grants)
    grants = [g for g in grants if g.pk in consented]
    if not grants:
        return []
    data = account_selectors.sellers_data(categories_by_seller={g.seller_id: g.categories for g in grants})
    now = timezone.now()
    logs = [AccessLog(grant=g, api_key=api_key, read_at=now) for g in grants]
    if len(logs) == 1:
        logs[0].save(force_insert=True)
    else:
        AccessLog.objects.bulk_create(logs)
    return [
        {
            "seller": selectors.buyer_pseudonym(organisation.pk, g.seller_id),
            "grant": g.public_id,
            "categories": g.categories,
            "purpose": g.purpose,
            "licence_ends_at": g.ends_at,
            "data": data[g.seller_id],
        }
        for g in grants
    ]


def trade_lines_transition(lines: Sequence[TradeLine], to_status: str, *, reason: str = "") -> None:
    """The one way trade lines change status (delivered, voided); `reason` is kept on the line
    when it is voided. Requires: the lines locked (after their trades, core.locks)."""
    changes = {"status_reason": reason} if to_status == TradeLine.Status.VOIDED else {}
    transition_rows(
        lines, to_status, event_model=TradeLineEvent, reason=reason, at=timezone.now(), changes=changes
    )


def access_revoke(grants: Sequence[AccessGrant], *, reason: str, notice_reason: str) -> list[DeletionNotice]:
    """Revoke active access grants and tell each buyer organisation to delete what it received:
    one deletion notice per (organisation, seller), covering the categories of the grants
    revoked. The one builder for consent revocation and for refunds or chargebacks.

    Requires: the grants locked (core.locks order: after their trade lines)."""
    if not grants:
        return []
    now = timezone.now()
    transition_rows(
        grants,
        AccessGrant.Status.REVOKED,
        event_model=AccessGrantEvent,
        reason=reason,
        at=now,
        changes={"revoked_at": now, "revoked_reason": reason},
    )
    categories: dict[tuple[int, int], int] = defaultdict(int)
    for grant in grants:
        categories[(grant.organisation_id, grant.seller_id)] |= grant.categories_mask
    notices = DeletionNotice.objects.bulk_create(
        DeletionNotice(
            organisation_id=organisation_id,
            seller_id=seller_id,
            categories_mask=mask,
            reason=notice_reason,
            created_at=now,
            deadline=now + timedelta(days=settings.DELETION_NOTICE_DAYS),
        )
        for (organisation_id, seller_id), mask in sorted(categories.items())
    )
    webhook_events_emit_for(
        WebhookEventType.ACCESS_REVOKED,
        {organisation_id for organisation_id, _seller in categories},
        lambda: webhook_payloads.access_grants(grants, notices),
        at=now,
    )
    return notices


def deletion_notice_acknowledge(*, organisation: BuyerOrganisation, notice_public_id) -> DeletionNotice:
    """The buyer confirms it deleted the data (also after the deadline)."""
    with transaction.atomic(durable=True):
        notice = lock_row(
            DeletionNotice.objects.filter(public_id=notice_public_id, organisation=organisation)
        )
        if notice is None:
            raise NotFound("not_found", "No such deletion notice.")
        if notice.status == DeletionNotice.Status.ACKNOWLEDGED:
            raise Conflict("already_acknowledged", "This notice was already acknowledged.")
        now = timezone.now()
        transition_rows(
            [notice],
            DeletionNotice.Status.ACKNOWLEDGED,
            event_model=DeletionNoticeEvent,
            reason="acknowledged by the buyer",
            at=now,
            changes={"acknowledged_at": now},
        )
    return notice


def deletion_notices_flag_overdue(*, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """Notices past their deadline become overdue (moderators follow them in the admin).
    Set-based: each batch claims due notices (SKIP LOCKED), moves them and writes their events."""
    now = now or timezone.now()
    due = DeletionNotice.objects.filter(status=DeletionNotice.Status.SENT, deadline__lt=now)

    def emit(claimed: list[DeletionNotice]) -> None:
        ids = [notice.pk for notice in claimed]
        webhook_events_emit(WebhookEventType.NOTICE_OVERDUE, webhook_payloads.deletion_notices(ids))

    return _sweep(
        due, DeletionNotice.Status.OVERDUE, DeletionNoticeEvent, "deadline passed", now, batch_size, emit
    )


def access_grants_expire(*, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """Licences past their end: active → expired (reads already check ends_at). Set-based like
    `deletion_notices_flag_overdue`."""
    now = now or timezone.now()
    due = AccessGrant.objects.filter(status=AccessGrant.Status.ACTIVE, ends_at__lte=now)
    return _sweep(due, AccessGrant.Status.EXPIRED, AccessGrantEvent, "licence ended", now, batch_size)


def _sweep(due, to_status: str, event_model, reason: str, now: datetime, batch_size: int, then=None) -> int:
    """`then(claimed)`, if given, runs in each batch's transaction after the move."""
    total = 0
    while True:
        with transaction.atomic(durable=True):
            claimed = claim_rows(due.only("pk", "status"), limit=batch_size)
            transition_rows(claimed, to_status, event_model=event_model, reason=reason, at=now)
            if then is not None and claimed:
                then(claimed)
        total += len(claimed)
        if len(claimed) < batch_size:
            return total
