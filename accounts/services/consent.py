"""Consent: grant, renew, revoke, the expiry sweep, reminders; the one transition service of
consent grants, whose events carry receipts (accounts.receipts.consent_events)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import hooks, lock_objects, receipts
from accounts.models import ConsentEvent, ConsentGrant, User
from accounts.taxonomy import CONSENT_WINDOW_DAYS, SENSITIVE_CATEGORIES, DataCategory, Purpose
from core import audit
from core.db import Ids
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.lifecycles import check_transition
from core.locks import claim_rows


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


def _subjects(sellers: Sequence[User]) -> dict[int, receipts.Subject]:
    return {seller.pk: receipts.Subject(seller.pseudonym, seller.preferred_language) for seller in sellers}


def _audit_terms(grant: ConsentGrant) -> dict[str, object]:
    """What a granted or renewed consent covers, as its audit entry records it."""
    return {
        "category": grant.category,
        "purpose": grant.purpose,
        "window_days": grant.window_days,
        "expires_at": grant.expires_at.isoformat(),
    }


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
    try:
        return _consent_grant_once(seller, category, purpose, window_days)
    except Conflict as exc:
        # The pair's last grant may be past its window with the expiry sweep yet to run (up to a
        # minute): expire it now, as the sweep would, and grant again.
        if exc.code != "consent_already_active" or not _consent_expire_pair_due(seller, category, purpose):
            raise
    return _consent_grant_once(seller, category, purpose, window_days)


def _consent_grant_once(seller: User, category: str, purpose: str, window_days: int) -> ConsentGrant:
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
        ConsentEvent.objects.bulk_create(
            receipts.consent_events([grant], ConsentEvent.Kind.GRANTED, subjects=_subjects([seller]), at=now)
        )
        audit.record("consent.granted", grant, actor=seller, at=now, changes=_audit_terms(grant))
        hooks.run_consent_change_handlers([hooks.ConsentChange.of(grant)], "granted")
    return grant


def _consent_expire_pair_due(seller: User, category: str, purpose: str) -> bool:
    """Expire the seller's grant of one pair if its window has ended (event and cascades as in
    consent_expire_due); True if there was one."""
    with transaction.atomic(durable=True):
        due = lock_objects.consent_grants_due_of_pair(
            seller=seller, category=category, purpose=purpose, now=timezone.now()
        )
        for grant in due:
            grant.seller = seller
        _consent_grants_end(
            due,
            ConsentGrant.Status.EXPIRED,
            at=None,
            event_kind=ConsentEvent.Kind.EXPIRED,
            audit_action="consent.expired",
            audit_reason="window ended",
        )
        hooks.run_consent_change_handlers(map(hooks.ConsentChange.of, due), "expired")
    return bool(due)


def _locked_active_grant(seller: User, grant_id: int, now: datetime) -> ConsentGrant:
    """Lock the seller's grant; raise unless it is active and inside its window. Needs a transaction."""
    grant = lock_objects.consent_grant_of_seller(seller=seller, grant_id=grant_id)
    if grant is None:
        raise NotFound("not_found", "No such consent.")
    if grant.status == ConsentGrant.Status.REVOKED:
        raise Conflict("consent_already_revoked", "This consent was already revoked.")
    if grant.status == ConsentGrant.Status.EXPIRED or now >= grant.expires_at:
        raise Conflict("consent_expired", "This consent has expired: grant it again.")
    return grant


def _consent_grants_end(
    grants: Sequence[ConsentGrant],
    to_status: str,
    *,
    at: datetime | None,
    event_kind: str | None,
    method: str | None = None,
    subjects: dict[int, receipts.Subject] | None = None,
    template_cache: dict[receipts.TemplateSpec, int] | None = None,
    audit_action: str | None = None,
    audit_reason: str = "",
    actor: User | None = None,
) -> None:
    """The one transition service of consent grants: active → expired | revoked, checked against
    ConsentGrant.TRANSITIONS, as one UPDATE guarded by the old status, with one ConsentEvent per
    grant (receipts.consent_events) in the same transaction. A grant ends at `at`, or for expiry
    (`at=None`) at its own `expires_at`. `event_kind=None` for a renewal, whose event is the new
    grant's `renewed`, and for the expiry sweep on PostgreSQL, which inserts its events itself
    (_expired_events_insert).

    With `audit_action` ("consent.withdrawn", "consent.expired"), one audit entry per grant in
    one INSERT (core.audit.record_rows: the sweep's claimed rows are plain tuples), by `actor`
    or the request's user; an expiry (`at=None`) is always the platform's.

    Requires: the grants locked (or claimed by a sweep) in the current transaction.
    """
    if not grants:
        return
    for grant in grants:
        check_transition(ConsentGrant, grant.status, to_status, code="consent_not_active")
    ended_at = F("expires_at") if at is None else at
    ConsentGrant.objects.filter(
        pk__any=Ids([grant.pk for grant in grants]), status=ConsentGrant.Status.ACTIVE
    ).update(status=to_status, ended_at=ended_at)
    if audit_action is not None:
        with audit.acting_as(None) if at is None else nullcontext():
            audit.record_rows(
                audit_action,
                ConsentGrant,
                [(grant.pk, f"{grant.category}/{grant.purpose} ({to_status})") for grant in grants],
                reason=audit_reason,
                changes={"status": [ConsentGrant.Status.ACTIVE, to_status]},
                actor=actor,
            )
    if event_kind is not None:
        ConsentEvent.objects.bulk_create(
            receipts.consent_events(
                grants,
                event_kind,
                subjects=subjects or _subjects([grant.seller for grant in grants]),
                at=at,
                method=method,
                template_cache=template_cache,
            )
        )
    for grant in grants:
        if isinstance(grant, ConsentGrant):  # the sweep's claimed rows are plain tuples
            grant.status, grant.ended_at = to_status, at or grant.expires_at


def _expired_events_insert(
    grants: Sequence[ConsentGrant],
    kind: str,
    *,
    languages: dict[int, str | None],
    template_cache: dict[receipts.TemplateSpec, int],
) -> None:
    """PostgreSQL: the events of an expiry batch (each at its grant's `expires_at`) as
    receipts.consent_events builds them, written by one INSERT … SELECT over the grants instead
    of building, sending and parsing thousands of rows a batch.

    Python still decides everything a receipt says: each event's template
    (receipts.consent_event_templates, from each seller's preferred language in `languages`) and
    its own fields (receipts.event_fields_sql: the fields and forms of receipts.EVENT_FIELDS); the
    SQL only fills in each row's values. The ORM twin is the bulk_create of
    receipts.consent_events that runs elsewhere (SQLite); tests/accounts/test_consent_receipts.py
    checks that both issue the builder's receipts.
    """
    if not grants:
        return
    templates = receipts.consent_event_templates(
        grants, kind, languages=languages, template_cache=template_cache
    )
    receipt = receipts.event_fields_sql(
        {
            "receipt_id": "due.receipt_id",
            "at": "due.expires_at",
            "subject_pseudonym": "due.pseudonym",
            "grant_id": "due.id",
            "window_start": "due.granted_at",
            "window_end": "due.expires_at",
        }
    )
    # MATERIALIZED: gen_random_uuid() runs once per row, and both uses of it see the same value.
    sql = f"""
        WITH due AS MATERIALIZED (
            SELECT grant_row.id, grant_row.seller_id, grant_row.granted_at, grant_row.expires_at,
                   seller.pseudonym, claimed.template_id, gen_random_uuid() AS receipt_id
            FROM unnest(%s::bigint[], %s::bigint[]) AS claimed (grant_id, template_id)
            JOIN {ConsentGrant._meta.db_table} AS grant_row ON grant_row.id = claimed.grant_id
            JOIN {User._meta.db_table} AS seller ON seller.id = grant_row.seller_id
        )
        INSERT INTO {ConsentEvent._meta.db_table}
            (grant_id, seller_id, kind, occurred_at, receipt_id, template_id, receipt)
        SELECT due.id, due.seller_id, %s, due.expires_at, due.receipt_id, due.template_id, {receipt}
        FROM due
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                "{" + ",".join(str(grant.pk) for grant in grants) + "}",
                "{" + ",".join(map(str, templates)) + "}",
                kind,
            ],
        )


def _end_grants_locked(
    grants: list[ConsentGrant], at: datetime, reason: str, *, actor: User | None = None
) -> None:
    """Revoke locked active grants at `at` ("revoked" or "erasure"), with their events and audit
    entries ("consent.withdrawn" by `actor`, or the request's user), then run the cascades.
    Requires: the grants locked FOR UPDATE in the current transaction."""
    _consent_grants_end(
        grants,
        ConsentGrant.Status.REVOKED,
        at=at,
        event_kind=ConsentEvent.Kind.REVOKED,
        method=reason,
        audit_action="consent.withdrawn",
        audit_reason="withdrawn by the seller" if reason == "revoked" else reason,
        actor=actor,
    )
    hooks.run_consent_change_handlers(map(hooks.ConsentChange.of, grants), reason)


def consent_revoke(*, seller: User, grant_id: int) -> ConsentGrant:
    """Withdraw consent. It stops being valid at the commit of this transaction."""
    with transaction.atomic(durable=True):
        now = timezone.now()
        grant = _locked_active_grant(seller, grant_id, now)
        grant.seller = seller
        _end_grants_locked([grant], now, "revoked", actor=seller)
    return grant


def consent_renew(*, seller: User, grant_id: int, window_days: int) -> ConsentGrant:
    """Replace an active grant by a new one from now; the old one ends now (status expired)."""
    _check_seller(seller)
    _check_window(window_days)
    with transaction.atomic(durable=True):
        now = timezone.now()
        old = _locked_active_grant(seller, grant_id, now)
        _consent_grants_end([old], ConsentGrant.Status.EXPIRED, at=now, event_kind=None)
        grant = ConsentGrant.objects.create(
            seller=seller,
            category=old.category,
            purpose=old.purpose,
            window_days=window_days,
            granted_at=now,
            expires_at=now + timedelta(days=window_days),
            renewed_from=old,
        )
        ConsentEvent.objects.bulk_create(
            receipts.consent_events([grant], ConsentEvent.Kind.RENEWED, subjects=_subjects([seller]), at=now)
        )
        audit.record(
            "consent.renewed",
            grant,
            actor=seller,
            at=now,
            changes={**_audit_terms(grant), "renewed_from": old.pk},
        )
        hooks.run_consent_change_handlers(map(hooks.ConsentChange.of, (old, grant)), "renewed")
    return grant


def _expire_batch(
    now: datetime, limit: int, template_cache: dict[receipts.TemplateSpec, int]
) -> list[hooks.ConsentChange]:
    """Claim up to `limit` due grants (SKIP LOCKED, earliest first) and expire them at their own
    `expires_at`, with their events. Requires: a transaction."""
    on_postgresql = connection.vendor == "postgresql"
    fields = _EXPIRY_FIELDS if on_postgresql else (*_EXPIRY_FIELDS, *_EXPIRY_RECEIPT_FIELDS)
    grants = claim_rows(
        ConsentGrant.objects.filter(status=ConsentGrant.Status.ACTIVE, expires_at__lte=now).values_list(
            *fields, named=True
        ),
        limit=limit,
        order_by=("expires_at",),
    )
    if on_postgresql:
        _consent_grants_end(
            grants,
            ConsentGrant.Status.EXPIRED,
            at=None,
            event_kind=None,
            audit_action="consent.expired",
            audit_reason="window ended",
        )
        _expired_events_insert(
            grants,
            ConsentEvent.Kind.EXPIRED,
            languages={grant.seller_id: grant.seller__preferred_language for grant in grants},
            template_cache=template_cache,
        )
    else:
        _consent_grants_end(
            grants,
            ConsentGrant.Status.EXPIRED,
            at=None,
            event_kind=ConsentEvent.Kind.EXPIRED,
            subjects={
                grant.seller_id: receipts.Subject(grant.seller__pseudonym, grant.seller__preferred_language)
                for grant in grants
            },
            template_cache=template_cache,
            audit_action="consent.expired",
            audit_reason="window ended",
        )
    return [hooks.ConsentChange.of(grant) for grant in grants]


# What the expiry sweep reads of a due grant and its seller, as plain rows (no model instances):
# what the transition check, the receipt's template and the cascades need; and where the events
# are built in Python (the ORM twin of _expired_events_insert), what their own fields need.
_EXPIRY_FIELDS = (
    "pk",
    "status",
    "seller_id",
    "category",
    "purpose",
    "seller__preferred_language",
)
_EXPIRY_RECEIPT_FIELDS = ("granted_at", "expires_at", "seller__pseudonym")


def consent_expire_due(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Expire every active grant whose window has ended; returns how many this call expired.

    Set-based and batched: each batch claims due rows with FOR UPDATE SKIP LOCKED, moves them with
    one UPDATE and one INSERT of their events (receipts as receipts.consent_events builds them;
    on PostgreSQL by _expired_events_insert), runs the cascades, and commits. Several sweeps can run at once; each grant expires exactly once.
    """
    now = now or timezone.now()
    limit = batch_size or settings.CONSENT_SWEEP_BATCH_SIZE
    template_cache: dict[receipts.TemplateSpec, int] = {}
    total = 0
    while True:
        with transaction.atomic(durable=True):
            expired = _expire_batch(now, limit, template_cache)
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
            claimed = claim_rows(
                ConsentGrant.objects.filter(
                    status=ConsentGrant.Status.ACTIVE,
                    expires_at__gt=now,
                    expires_at__lte=horizon,
                    reminder_sent_at=None,
                ).values_list("pk", "seller_id"),
                limit=batch_size,
                order_by=("expires_at",),
            )
            ConsentGrant.objects.filter(pk__in=[pk for pk, _ in claimed]).update(reminder_sent_at=now)
            by_seller: dict[int, list[int]] = {}
            for pk, seller_id in claimed:
                by_seller.setdefault(seller_id, []).append(pk)
            for seller_id, grant_ids in by_seller.items():
                consent_reminder_send.delay_on_commit(seller_id, grant_ids)  # type: ignore[attr-defined]  # a DjangoTask; stubs: Task
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
