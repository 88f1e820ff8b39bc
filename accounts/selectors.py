"""Reads for accounts. Everything that sells, settles or delivers asks `consent_is_valid`."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.sessions.models import Session
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import BigIntegerField, Model, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import crypto, hooks, taxonomy
from accounts.models import (
    ApiKey,
    ApiUsageDay,
    BuyerOrganisation,
    ConsentEvent,
    ConsentGrant,
    LifeEvent,
    LoginSession,
    SellerDataKey,
    SellerProfile,
    User,
)
from core.errors import ServiceError


def consent_valid_q(at: datetime, prefix: str = "") -> Q:
    """Q over ConsentGrant (or a relation to it, with `prefix`) for grants valid at `at`."""
    return Q(**{f"{prefix}granted_at__lte": at, f"{prefix}expires_at__gt": at}) & (
        Q(**{f"{prefix}ended_at__isnull": True}) | Q(**{f"{prefix}ended_at__gt": at})
    )


def consented_pairs_mask_expression(*, seller_ref: str, at: datetime) -> Subquery:
    """The (category, purpose) pairs (taxonomy.pair_bit) of the consents of the seller that
    `seller_ref` names in the outer query, valid at `at`: one subquery, so a row lock can read
    them in its own statement. SUM(DISTINCT …) of distinct powers of two is their OR."""
    bits = (
        ConsentGrant.objects.filter(seller_id=OuterRef(seller_ref))
        .filter(consent_valid_q(at))
        .order_by()
        .values("seller_id")
        .annotate(mask=Sum("pair_bit", distinct=True))
        .values("mask")
    )
    return Subquery(bits, output_field=BigIntegerField())


def consent_is_valid(seller: User | int, category: str, purpose: str, at: datetime | None = None) -> bool:
    """True iff the seller's consent for `category` × `purpose` holds at `at` (default now)."""
    seller_id = seller if isinstance(seller, int) else seller.pk
    return (
        ConsentGrant.objects.filter(seller_id=seller_id, category=category, purpose=purpose)
        .filter(consent_valid_q(at or timezone.now()))
        .exists()
    )


def consent_grants_for(*, seller: User) -> QuerySet[ConsentGrant]:
    return ConsentGrant.objects.filter(seller=seller).order_by("-granted_at", "-pk")


def consent_active_for(*, seller: User) -> QuerySet[ConsentGrant]:
    return consent_grants_for(seller=seller).filter(
        status=ConsentGrant.Status.ACTIVE, expires_at__gt=timezone.now()
    )


def consent_days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until `expires_at`, rounded up: a 90-day grant made a moment ago has 90 left,
    one that ends in an hour has 1 (never 0 while it holds)."""
    return max(math.ceil((expires_at - now).total_seconds() / 86400), 0)


def consent_latest_per_pair(*, seller: User) -> QuerySet[ConsentGrant]:
    """The seller's latest grant of each category × purpose pair (at most one row per pair): the
    consent matrix's cells. A renewed grant's predecessor is never the latest."""
    latest = (
        ConsentGrant.objects.filter(
            seller_id=OuterRef("seller_id"), category=OuterRef("category"), purpose=OuterRef("purpose")
        )
        .order_by("-granted_at", "-pk")
        .values("pk")[:1]
    )
    return consent_grants_for(seller=seller).filter(pk=Subquery(latest))


def consent_events_for(*, seller: User) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.filter(seller=seller).select_related("template").order_by("occurred_at", "pk")


def life_events_for(*, seller: User) -> QuerySet[LifeEvent]:
    return LifeEvent.objects.filter(seller=seller).order_by("created_at", "pk")


def _data_fernet(seller: User):
    key = SellerDataKey.objects.filter(seller=seller).values_list("wrapped_key", flat=True).first()
    return crypto.data_fernet(key)


def seller_precise_values(*, seller: User) -> dict[str, Any]:
    """Decrypted precise values (birth_date, postcode, phone). Empty after erasure."""
    profile = SellerProfile.objects.filter(seller=seller).first()
    if profile is None:
        return {}
    try:
        fernet = _data_fernet(seller)
    except crypto.DataKeyDestroyed:
        return {}
    return {
        field: crypto.decrypt(fernet, token) if token else None
        for field, token in (
            ("birth_date", profile.birth_date_encrypted),
            ("postcode", profile.postcode_encrypted),
            ("phone", profile.phone_encrypted),
        )
    }


def mask_phone(phone: str | None, *, shown: int = 2) -> str:
    """`+33612345678` → `+33 •••••••78`: the country code and the last digits, enough for the
    seller to recognise their number, too little for anyone reading over their shoulder."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    country = phone[: len(phone) - len(digits)] + digits[:2] if phone.startswith("+") else ""
    rest = digits[2:] if country else digits
    return f"{country} {'•' * max(len(rest) - shown, 0)}{rest[-shown:]}".strip()


def seller_phone_masked(*, seller: User) -> str:
    """The seller's phone number as the verification page shows it (mask_phone); "" if none."""
    return mask_phone(seller_precise_values(seller=seller).get("phone"))


def login_sessions_for(*, user: User) -> list[LoginSession]:
    """The user's logged-in sessions, the most recently used first (expired ones left out)."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return list(LoginSession.objects.filter(user=user, session_key__in=live).order_by("-last_seen_at", "-id"))


def life_event_details(*, seller: User, events: list[LifeEvent]) -> dict[int, str]:
    try:
        fernet = _data_fernet(seller)
    except crypto.DataKeyDestroyed:
        return {}
    return {e.pk: crypto.decrypt(fernet, e.details_encrypted) if e.details_encrypted else "" for e in events}


def seller_badges(*, seller: User) -> dict[str, bool]:
    profile = SellerProfile.objects.filter(seller=seller).first()
    signals = {
        "email_verified": seller.email_verified_at is not None,
        "phone_verified": seller.phone_verified_at is not None,
        "profile_complete": bool(profile and profile.is_complete),
    }
    signals["verified_seller"] = all(signals.values())
    return signals


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def seller_profile_values(*, seller: User, profile: SellerProfile | None = None) -> dict[str, Any]:
    """The seller's profile as stored, the one shape that the profile form starts from and the
    export lists: coarse targeting attributes as they are, what the seller offers, precise values
    decrypted (None when never given or once erased), timestamps in ISO 8601. `profile` saves a
    query when the caller has just read it."""
    profile = profile if profile is not None else SellerProfile.objects.get(seller=seller)
    precise = seller_precise_values(seller=seller)
    return {
        "age_band": profile.age_band,
        "gender": profile.gender,
        "region": profile.region,
        "mobile_os": profile.mobile_os,
        "mobile_operator": profile.mobile_operator,
        "interests": profile.interests,
        "affinities": profile.affinities,
        "audience_optin": taxonomy.codes_of(profile.audience_optin_mask, taxonomy.CATEGORY_CODES),
        "sellable": [
            f"{c}:{p}"
            for c in taxonomy.CATEGORY_CODES
            for p in taxonomy.PURPOSE_CODES
            if profile.sellable_mask & taxonomy.pair_bit(c, p)
        ],
        "sellable_until": _iso(profile.sellable_until),
        "birth_date": precise.get("birth_date"),
        "postcode": precise.get("postcode"),
        "phone": precise.get("phone"),
        "updated_at": _iso(profile.updated_at),
    }


class SellerErased(ServiceError):
    """The account was erased (Art. 17): nothing is left to export."""

    status_code = 410


# The models the sections written here cover; apps' sections declare theirs in a `covers`
# attribute (tests/accounts/test_export_coverage.py checks every seller-referring model is covered).
SELLER_EXPORT_COVERS = (
    "accounts.User",
    "accounts.SellerProfile",
    "accounts.LifeEvent",
    "accounts.ConsentGrant",
    "accounts.ConsentEvent",
    "accounts.LoginSession",
)


def seller_export(*, seller: User) -> dict[str, Any]:
    """GDPR Art. 15 / 20: everything stored about the seller, as machine-readable JSON (codes
    and ISO 8601 timestamps); each app adds its sections through hooks.register_export_section.

    The password hash is deliberately left out (it is a credential, not data about the person);
    encrypted columns appear decrypted under their plain names. Raises SellerErased (410) for
    an erased account. The number of queries does not depend on how much the seller traded.
    """
    profile = SellerProfile.objects.filter(seller=seller).first()
    if seller.erased_at is not None or profile is None:
        raise SellerErased("account_erased", _("This account was erased: there is no data left to export."))
    life_events = list(life_events_for(seller=seller))
    details = life_event_details(seller=seller, events=life_events)
    data: dict[str, Any] = {
        "format": "courtier-seller-export/1",
        "generated_at": timezone.now().isoformat(),
        "account": {
            "id": seller.pk,
            "email": seller.email,
            "full_name": seller.full_name,
            "role": seller.role,
            "pseudonym": str(seller.pseudonym),
            "preferred_language": seller.preferred_language,
            "email_verified_at": _iso(seller.email_verified_at),
            "phone_verified_at": _iso(seller.phone_verified_at),
            "erased_at": _iso(seller.erased_at),
            "is_active": seller.is_active,
            "suspended_at": _iso(seller.suspended_at),
            "suspended_reason": seller.suspended_reason,
            "date_joined": _iso(seller.date_joined),
            "last_login": _iso(seller.last_login),
            "password": "set (the hash is a credential and is not exported)",
        },
        "verification": seller_badges(seller=seller),
        "profile": seller_profile_values(seller=seller, profile=profile),
        "life_events": [
            {"kind": e.kind, "details": details.get(e.pk, ""), "created_at": _iso(e.created_at)}
            for e in life_events
        ],
        "consent_grants": [
            {
                "id": g.pk,
                "category": g.category,
                "purpose": g.purpose,
                "tcf_purpose_id": taxonomy.TCF_PURPOSE_IDS[g.purpose],
                "window_days": g.window_days,
                "granted_at": _iso(g.granted_at),
                "expires_at": _iso(g.expires_at),
                "ended_at": _iso(g.ended_at),
                "status": g.status,
                "renewed_from": g.renewed_from_id,
                "reminder_sent_at": _iso(g.reminder_sent_at),
            }
            for g in consent_grants_for(seller=seller)
        ],
        "consent_events": [
            {
                "grant": e.grant_id,
                "kind": e.kind,
                "occurred_at": _iso(e.occurred_at),
                "receipt_id": str(e.receipt_id),
                "receipt": e.full_receipt,
            }
            for e in consent_events_for(seller=seller)
        ],
        "sessions": [
            {
                "user_agent": s.user_agent,
                "ip_address": s.ip_address,
                "logged_in_at": _iso(s.created_at),
                "last_seen_at": _iso(s.last_seen_at),
            }
            for s in login_sessions_for(user=seller)
        ],
    }
    for name, section in hooks.export_sections().items():
        data[name] = section(seller)
    return data


def _related_or_none(instance: Model, name: str) -> Model | None:
    """A reverse one-to-one read through select_related: the row, or None when there is none."""
    try:
        return getattr(instance, name)
    except ObjectDoesNotExist:
        return None


def sellers_data(*, categories_by_seller: dict[int, list[str]]) -> dict[int, dict[str, Any]]:
    """The stored values of the given categories per seller, precise values decrypted.

    One query whatever the number of sellers (their profiles and data keys, joined), and one
    more for life events when a seller's categories include them.
    """
    seller_ids = list(categories_by_seller)
    profiles: dict[int, SellerProfile] = {}
    keys: dict[int, str | None] = {}
    sellers = User.objects.filter(pk__in=seller_ids).select_related("profile", "data_key")
    for seller in sellers.only("pk", "profile", "data_key"):
        if isinstance(profile := _related_or_none(seller, "profile"), SellerProfile):
            profiles[seller.pk] = profile
        if isinstance(data_key := _related_or_none(seller, "data_key"), SellerDataKey):
            keys[seller.pk] = data_key.wrapped_key
    events: dict[int, list[LifeEvent]] = {}
    if any(taxonomy.DataCategory.LIFE_EVENTS in cats for cats in categories_by_seller.values()):
        for event in LifeEvent.objects.filter(seller_id__in=seller_ids).order_by("created_at", "pk"):
            events.setdefault(event.seller_id, []).append(event)
    result: dict[int, dict[str, Any]] = {}
    for seller_id, categories in categories_by_seller.items():
        profile = profiles.get(seller_id)
        try:
            fernet = crypto.data_fernet(keys.get(seller_id))
        except crypto.DataKeyDestroyed:
            fernet = None

        def plain(token: str | None, fernet=fernet) -> str | None:
            return crypto.decrypt(fernet, token) if token and fernet else None

        values: dict[str, Any] = {}
        for category in categories:
            for field in taxonomy.CATEGORY_FIELDS[category]:
                if field == "life_events":
                    values[field] = [
                        {"kind": e.kind, "details": plain(e.details_encrypted) or ""}
                        for e in events.get(seller_id, [])
                    ]
                elif field in ("birth_date", "postcode", "phone"):
                    values[field] = plain(getattr(profile, f"{field}_encrypted", None))
                else:
                    values[field] = getattr(profile, field, None)
        result[seller_id] = values
    return result


class ApiUsageRow(NamedTuple):
    day: date
    requests: int
    throttled: int  # answered 429


def api_usage(organisation: BuyerOrganisation, days: int = 30) -> list[ApiUsageRow]:
    """The organisation's API requests and 429s per day (UTC), oldest first, one row per day of
    the last `days` (today included, zeros included): ApiUsageDay plus what the rate limiter
    counted in Redis since the last flush (one pipelined round trip), or, without Redis
    (`make run`), this process's own counts."""
    from accounts import rate_limits
    from core import ratelimit

    today = timezone.now().date()
    span = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    totals = {day: [0, 0] for day in span}
    for day, requests, throttled in ApiUsageDay.objects.filter(
        organisation=organisation, day__gte=span[0]
    ).values_list("day", "requests", "throttled"):
        totals[day][0] += requests
        totals[day][1] += throttled
    members = {rate_limits.usage_member(organisation.pk, day): day for day in span}
    redis = rate_limits.client()
    if redis is None:
        found = [
            (members[m], ratelimit.local_limiter.usage.get(rate_limits.usage_key(m), {})) for m in members
        ]
    else:
        pipe = redis.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(rate_limits.usage_key(member))
            pipe.hgetall(rate_limits.usage_key(member, flushing=True))
        answers = pipe.execute()
        found = [(members[m], answers[i]) for i, m in enumerate(m for m in members for _twice in (0, 1))]
    for day, fields in found:
        for name, value in fields.items():
            name = name.decode() if isinstance(name, bytes) else name
            totals[day][0 if name == "requests" else 1] += int(value)
    return [ApiUsageRow(day, requests, throttled) for day, (requests, throttled) in totals.items()]


# --- Buyer organisations (the advertiser console, the moderators' admin) -------------------------

# What a moderator needs before verifying an organisation, in the order the console lists it.
ORGANISATION_REQUIRED_DETAILS = (
    "legal_name",
    "registration_number",
    "country",
    "website",
    "contact_name",
    "contact_email",
    "contact_phone",
)


# every code organisation_verification_missing may answer (the API's `missing` enum)
ORGANISATION_VERIFICATION_MISSING = (
    *ORGANISATION_REQUIRED_DETAILS,
    "contact_email_unverified",
    "contact_phone_unverified",
)


def organisation_verification_missing(organisation: BuyerOrganisation) -> list[str]:
    """Codes of what is missing before verification can be requested: empty details, then
    `contact_email_unverified` / `contact_phone_unverified`. Empty when complete."""
    missing = [
        field for field in ORGANISATION_REQUIRED_DETAILS if not str(getattr(organisation, field)).strip()
    ]
    if organisation.contact_email and organisation.contact_email_verified_at is None:
        missing.append("contact_email_unverified")
    if organisation.contact_phone and organisation.contact_phone_verified_at is None:
        missing.append("contact_phone_unverified")
    return missing


def organisation_members(*, organisation: BuyerOrganisation) -> QuerySet[User]:
    return User.objects.filter(organisation=organisation, is_active=True).order_by("date_joined", "pk")


def api_keys_of(*, organisation: BuyerOrganisation) -> QuerySet[ApiKey]:
    """Every key of the organisation, newest first (revoked and expired ones too: the history)."""
    return ApiKey.objects.filter(organisation=organisation).order_by("-created_at", "-pk")
