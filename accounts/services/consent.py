"""Consent: grant, renew, revoke, the expiry sweep and its SQL, reminders, and the events with receipts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import hooks, lock_objects, receipts
from accounts.models import ConsentEvent, ConsentGrant, User
from accounts.taxonomy import CONSENT_WINDOW_DAYS, SENSITIVE_CATEGORIES, DataCategory, Purpose
from core.errors import Conflict, Forbidden, InvalidInput, NotFound


def _check_category_purpose(category: str, purpose: str) -> None:
    if category not in DataCategory.values:
        raise InvalidInput("category_unknown", f"{category!r} is not a data category.", field="category")
    if purpose not in Purpose.values:
        raise InvalidInput("purpose_unknown", f"{purpose!r} is not a purpose.", field="purpose")


def _check_window(window_days: int) -> None:
    if window_days not in CONSENT_WINDOW_DAYS:
        raise InvalidInput(
            "window_invalid",
            f"Choose a window of {', '.join(map(str, CONSENT_WINDOW_DAYS))} days.",
            field="window_days",
        )


def _record_event(
    grant: ConsentGrant, seller: User, kind: str, at: datetime, method: str | None = None
) -> ConsentEvent:
    fields = receipts.event_fields(
        subject_pseudonym=seller.pseudonym,
        grant_id=grant.pk,
        at=at,
        window_start=grant.granted_at,
        window_end=grant.expires_at,
    )
    return ConsentEvent.objects.create(
        grant=grant,
        seller=seller,
        kind=kind,
        occurred_at=at,
        receipt_id=fields["consentReceiptID"],
        template_id=receipts.template_id(
            kind, grant.category, grant.purpose, method, receipts.receipt_language(seller.preferred_language)
        ),
        receipt=fields,
    )


def _check_seller(seller: User) -> None:
    if seller.role != User.Role.SELLER or seller.erased_at or not seller.is_active:
        raise Forbidden("not_a_seller", "Only an active seller can give consent.")


def consent_grant(
    *,
    seller: User,
    category: str,
    purpose: str,
    window_days: int,
    explicit_sensitive: bool = False,
) -> ConsentGrant:
    """Grant consent for one category and purpose from now for `window_days` days.

    A sensitive category needs `explicit_sensitive=True`: the seller ticked a separate box that
    names the category; bulk or implicit grants never cover it.
    """
    _check_seller(seller)
    _check_category_purpose(category, purpose)
    _check_window(window_days)
    if category in SENSITIVE_CATEGORIES and not explicit_sensitive:
        raise InvalidInput(
            "explicit_consent_required",
            "Life events are sensitive: confirm this consent on its own.",
            field="explicit_sensitive",
        )
    with transaction.atomic(durable=True):
        now = timezone.now()
        try:
            grant = ConsentGrant.objects.create(
                seller=seller,
                category=category,
                purpose=purpose,
                window_days=window_days,
                granted_at=now,
                expires_at=now + timedelta(days=window_days),
            )
        except IntegrityError:  # the partial unique index: one active grant per pair
            raise Conflict(
                "consent_already_active",
                "Consent for this category and purpose is already active: renew or revoke it.",
            ) from None
        _record_event(grant, seller, ConsentEvent.Kind.GRANTED, now)
        hooks.run_consent_change_handlers([hooks.ConsentChange.of(grant)], "granted")
    return grant


def _locked_active_grant(seller: User, grant_id: int, now: datetime) -> ConsentGrant:
    """Lock the seller's grant; raise unless it is active and inside its window. Needs a transaction."""
    grant = lock_objects.consent_grant_of_seller(seller=seller, grant_id=grant_id)
    if grant is None:
        raise NotFound("consent_not_found", "No such consent.")
    if grant.status == ConsentGrant.Status.REVOKED:
        raise Conflict("consent_already_revoked", "This consent was already revoked.")
    if grant.status == ConsentGrant.Status.EXPIRED or now >= grant.expires_at:
        raise Conflict("consent_expired", "This consent has expired: grant it again.")
    return grant


def _end_grants_locked(grants: list[ConsentGrant], status: str, at: datetime, reason: str) -> None:
    """End locked active grants at `at`, append their events, then run the cascades.

    Requires: the grants locked FOR UPDATE in the current transaction.
    """
    for grant in grants:
        grant.status = status
        grant.ended_at = at
        grant.save(update_fields=["status", "ended_at"])
        _record_event(grant, grant.seller, ConsentEvent.Kind.REVOKED, at, method=reason)
    hooks.run_consent_change_handlers(map(hooks.ConsentChange.of, grants), reason)


def consent_revoke(*, seller: User, grant_id: int) -> ConsentGrant:
    """Withdraw consent. It stops being valid at the commit of this transaction."""
    with transaction.atomic(durable=True):
        now = timezone.now()
        grant = _locked_active_grant(seller, grant_id, now)
        grant.seller = seller
        _end_grants_locked([grant], ConsentGrant.Status.REVOKED, now, "revoked")
    return grant


def consent_renew(*, seller: User, grant_id: int, window_days: int) -> ConsentGrant:
    """Replace an active grant by a new one from now; the old one ends now (status expired)."""
    _check_seller(seller)
    _check_window(window_days)
    with transaction.atomic(durable=True):
        now = timezone.now()
        old = _locked_active_grant(seller, grant_id, now)
        old.status = ConsentGrant.Status.EXPIRED
        old.ended_at = now
        old.save(update_fields=["status", "ended_at"])
        grant = ConsentGrant.objects.create(
            seller=seller,
            category=old.category,
            purpose=old.purpose,
            window_days=window_days,
            granted_at=now,
            expires_at=now + timedelta(days=window_days),
            renewed_from=old,
        )
        _record_event(grant, seller, ConsentEvent.Kind.RENEWED, now)
        hooks.run_consent_change_handlers(map(hooks.ConsentChange.of, (old, grant)), "renewed")
    return grant


_EXPIRE_SQL = """
WITH expired AS (
    UPDATE accounts_consentgrant g SET status = 'expired', ended_at = g.expires_at
    WHERE g.id = ANY(ARRAY(
        SELECT id FROM accounts_consentgrant
        WHERE status = 'active' AND expires_at <= %(now)s
        ORDER BY expires_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED))
      AND g.status = 'active'
    RETURNING g.id, g.seller_id, g.category, g.purpose, g.granted_at, g.expires_at
), events AS (
    INSERT INTO accounts_consentevent (grant_id, seller_id, kind, occurred_at, receipt_id, template_id, receipt)
    SELECT r.id, r.seller_id, 'expired', r.expires_at, r.receipt_id,
           (coalesce(%(templates)s::jsonb ->> (u.preferred_language || ':' || r.category || ':' || r.purpose),
                     %(templates)s::jsonb ->> (%(default_language)s || ':' || r.category || ':' || r.purpose)))::bigint,
           jsonb_build_object(
               'consentReceiptID', r.receipt_id,
               'consentTimestamp', floor(extract(epoch FROM r.expires_at))::bigint,
               'piiPrincipalId', u.pseudonym,
               'grantId', r.id,
               'windowStart', to_char(r.granted_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               'windowEnd', to_char(r.expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
    FROM (SELECT e.*, gen_random_uuid() AS receipt_id FROM expired e) r
    JOIN accounts_user u ON u.id = r.seller_id
)
SELECT id, seller_id, category, purpose FROM expired
"""
# The claim is an array so that the update is always a primary-key lookup (a join on the claimed
# rows becomes a merge join walking the whole key from ~20,000 rows a batch). The template is the
# one of the seller's language, or of the default language for one the site does not offer, as
# receipts.receipt_language chooses. jsonb_build_object renders uuids as str() does; timestamps
# go through to_char in UTC (SET LOCAL TIME ZONE), with the six digits of microseconds that
# receipts.iso_utc writes. The events CTE runs to completion although the final SELECT does not
# read it.


def _expiry_templates_json() -> str:
    """{"language:category:purpose": receipt template id} for expiry events, created on first use."""
    keys = [
        (language, category, purpose)
        for language in receipts.receipt_languages()
        for category in DataCategory.values
        for purpose in Purpose.values
    ]
    ids = receipts.template_ids(
        [("expired", category, purpose, None, language) for language, category, purpose in keys]
    )
    return json.dumps({":".join(key): pk for key, pk in zip(keys, ids, strict=True)})


def _expire_batch_sql(now: datetime, limit: int, templates: str) -> list[hooks.ConsentChange]:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.execute(
            _EXPIRE_SQL,
            {"now": now, "limit": limit, "templates": templates, "default_language": settings.LANGUAGE_CODE},
        )
        return [hooks.ConsentChange(*row) for row in cursor.fetchall()]


def _expire_batch_orm(now: datetime, limit: int) -> list[hooks.ConsentChange]:
    grants = list(
        ConsentGrant.objects.select_for_update(skip_locked=True)
        .select_related("seller")
        .filter(status=ConsentGrant.Status.ACTIVE, expires_at__lte=now)
        .order_by("expires_at")[:limit]
    )
    for grant in grants:
        grant.status, grant.ended_at = ConsentGrant.Status.EXPIRED, grant.expires_at
        _record_event(grant, grant.seller, ConsentEvent.Kind.EXPIRED, grant.expires_at)
    ConsentGrant.objects.bulk_update(grants, ["status", "ended_at"])
    return [hooks.ConsentChange.of(g) for g in grants]


def consent_expire_due(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Expire every active grant whose window has ended; returns how many this call expired.

    Set-based and batched: each batch claims due rows with FOR UPDATE SKIP LOCKED, flips them and
    appends their events (receipts built in SQL from the Python template) in one statement, runs
    the cascades, and commits. Several sweeps can run at once; each grant expires exactly once.
    """
    now = now or timezone.now()
    limit = batch_size or settings.CONSENT_SWEEP_BATCH_SIZE
    templates = _expiry_templates_json() if connection.vendor == "postgresql" else ""
    total = 0
    while True:
        with transaction.atomic(durable=True):
            if connection.vendor == "postgresql":
                expired = _expire_batch_sql(now, limit, templates)
            else:
                expired = _expire_batch_orm(now, limit)
            hooks.run_consent_change_handlers(expired, "expired")
        total += len(expired)
        if len(expired) < limit:
            return total


def consent_remind_expiring(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Claim grants that expire within CONSENT_REMINDER_DAYS and queue one email per seller."""
    from accounts.tasks import consent_reminder_send

    now = now or timezone.now()
    horizon = now + timedelta(days=settings.CONSENT_REMINDER_DAYS)
    total = 0
    while True:
        with transaction.atomic(durable=True):
            claimed = list(
                ConsentGrant.objects.select_for_update(skip_locked=True)
                .filter(
                    status=ConsentGrant.Status.ACTIVE,
                    expires_at__gt=now,
                    expires_at__lte=horizon,
                    reminder_sent_at=None,
                )
                .order_by("expires_at")
                .values_list("pk", "seller_id")[:batch_size]
            )
            ConsentGrant.objects.filter(pk__in=[pk for pk, _ in claimed]).update(reminder_sent_at=now)
            by_seller: dict[int, list[int]] = {}
            for pk, seller_id in claimed:
                by_seller.setdefault(seller_id, []).append(pk)
            for seller_id, grant_ids in by_seller.items():
                consent_reminder_send.delay_on_commit(seller_id, grant_ids)
        total += len(claimed)
        if len(claimed) < batch_size:
            return total


def consent_reminder_email(*, seller_id: int, grant_ids: list[int]) -> bool:
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils import translation

    seller = User.objects.filter(pk=seller_id, erased_at=None, is_active=True).first()
    grants = list(
        ConsentGrant.objects.filter(
            pk__in=grant_ids, seller_id=seller_id, status=ConsentGrant.Status.ACTIVE
        ).order_by("expires_at")
    )
    if seller is None or not grants:
        return False
    with translation.override(seller.preferred_language):
        context = {"seller": seller, "grants": grants, "site_url": settings.SITE_URL}
        subject = render_to_string("accounts/email/consent_reminder_subject.txt", context).strip()
        body = render_to_string("accounts/email/consent_reminder.txt", context)
    send_mail(subject, body, None, [seller.email])
    return True
