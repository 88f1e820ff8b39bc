"""Every write to accounts: users, buyer organisations, API keys, seller data, consent, GDPR."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import crypto, hooks, receipts, taxonomy
from accounts.errors import Conflict, Forbidden, InvalidInput, NotFound
from accounts.models import (
    ApiKey,
    BuyerOrganisation,
    ConsentEvent,
    ConsentGrant,
    LifeEvent,
    OrganisationVerificationEvent,
    SellerDataKey,
    SellerProfile,
    User,
)
from accounts.taxonomy import CONSENT_WINDOW_DAYS, SENSITIVE_CATEGORIES, DataCategory, Purpose

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------


def seller_create(*, email: str, password: str, full_name: str = "", language: str = "en") -> User:
    email = User.objects.normalize_email(email).lower()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password, full_name=full_name, preferred_language=language)
            SellerDataKey.objects.create(seller=user, wrapped_key=crypto.new_wrapped_data_key())
            SellerProfile.objects.create(seller=user)
    except IntegrityError:
        raise Conflict("email_taken", "An account with this email already exists.", field="email") from None
    return user


def buyer_member_create(
    *, organisation: BuyerOrganisation, email: str, password: str | None, full_name: str = ""
) -> User:
    return User.objects.create_user(
        email, password, full_name=full_name, role=User.Role.BUYER, organisation=organisation
    )


EMAIL_VERIFICATION_SALT = "courtier.email-verification"
EMAIL_VERIFICATION_MAX_AGE = timedelta(days=3)


def email_verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email}, salt=EMAIL_VERIFICATION_SALT)


def email_verify(*, token: str) -> User:
    try:
        data = signing.loads(token, salt=EMAIL_VERIFICATION_SALT, max_age=EMAIL_VERIFICATION_MAX_AGE)
    except signing.BadSignature:
        raise InvalidInput("token_invalid", "This verification link is invalid or expired.") from None
    user = User.objects.filter(pk=data["u"], email=data["e"], erased_at=None).first()
    if user is None:
        raise InvalidInput("token_invalid", "This verification link is invalid or expired.")
    User.objects.filter(pk=user.pk, email_verified_at=None).update(email_verified_at=timezone.now())
    user.refresh_from_db()
    return user


PHONE_CODE_STEP = 600  # seconds a phone code stays valid (the current and previous step)


def _phone_code(user: User, phone: str, step: int) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"{user.pk}:{phone}:{step}".encode(), hashlib.sha256
    ).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 1_000_000:06d}"


def phone_verification_code(*, seller: User, at: datetime | None = None) -> str:
    """The code to send by SMS; derived, so nothing secret is stored."""
    phone = seller_precise_values(seller=seller).get("phone")
    if not phone:
        raise InvalidInput("phone_missing", "Add a phone number first.", field="phone")
    step = int((at or timezone.now()).timestamp()) // PHONE_CODE_STEP
    return _phone_code(seller, phone, step)


def phone_verify(*, seller: User, code: str, at: datetime | None = None) -> None:
    phone = seller_precise_values(seller=seller).get("phone")
    if not phone:
        raise InvalidInput("phone_missing", "Add a phone number first.", field="phone")
    step = int((at or timezone.now()).timestamp()) // PHONE_CODE_STEP
    if not any(hmac.compare_digest(code.strip(), _phone_code(seller, phone, s)) for s in (step, step - 1)):
        raise InvalidInput("code_invalid", "This code is wrong or expired.", field="code")
    User.objects.filter(pk=seller.pk).update(phone_verified_at=timezone.now())


# ---------------------------------------------------------------------------------------------
# Buyer organisations and API keys
# ---------------------------------------------------------------------------------------------


def organisation_create(
    *,
    legal_name: str,
    registration_number: str,
    country: str,
    website: str,
    contact_name: str,
    contact_email: str,
) -> BuyerOrganisation:
    country = country.upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise InvalidInput("country_invalid", "Use an ISO 3166-1 alpha-2 country code.", field="country")
    try:
        with transaction.atomic():
            return BuyerOrganisation.objects.create(
                legal_name=legal_name,
                registration_number=registration_number.strip(),
                country=country,
                website=website,
                contact_name=contact_name,
                contact_email=contact_email,
            )
    except IntegrityError:
        raise Conflict(
            "organisation_exists",
            "An organisation with this registration number already exists in this country.",
            field="registration_number",
        ) from None


def organisation_set_verification(
    *, organisation_id: int, to_status: str, actor: User | None, reason: str = ""
) -> BuyerOrganisation:
    """The one place an organisation's verification status changes: locked, checked, audited."""
    V = BuyerOrganisation.Verification
    if to_status not in V.values:
        raise InvalidInput("status_unknown", f"Unknown verification status {to_status!r}.")
    if to_status in (V.VERIFIED, V.REJECTED) and (actor is None or actor.role != User.Role.MODERATOR):
        raise Forbidden("moderator_required", "Only a moderator can verify or reject an organisation.")
    if to_status == V.REJECTED and not reason.strip():
        raise InvalidInput("reason_required", "Give a reason for the rejection.", field="reason")
    with transaction.atomic():
        organisation = BuyerOrganisation.objects.select_for_update().filter(pk=organisation_id).first()
        if organisation is None:
            raise NotFound("organisation_not_found", "No such organisation.")
        from_status = organisation.verification_status
        if to_status not in BuyerOrganisation.TRANSITIONS[from_status]:
            raise Conflict(
                "transition_not_allowed",
                f"An organisation that is {from_status} cannot become {to_status}.",
            )
        now = timezone.now()
        organisation.verification_status = to_status
        organisation.verification_reason = reason.strip()
        if to_status in (V.VERIFIED, V.REJECTED):
            organisation.verification_decided_by = actor
            organisation.verification_decided_at = now
        organisation.save(
            update_fields=[
                "verification_status",
                "verification_reason",
                "verification_decided_by",
                "verification_decided_at",
            ]
        )
        OrganisationVerificationEvent.objects.create(
            organisation=organisation,
            from_status=from_status,
            to_status=to_status,
            reason=reason.strip(),
            actor=actor,
            occurred_at=now,
        )
    return organisation


API_KEY_PREFIX = "crt"


def _hash_key(key: str) -> str:
    # API keys are 256-bit random secrets, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(
    *,
    organisation: BuyerOrganisation,
    name: str,
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never stored or shown again."""
    if not name.strip():
        raise InvalidInput("name_required", "Name the key.", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expiry_in_past", "The expiry must be in the future.", field="expires_at")
    prefix = secrets.token_hex(6)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        organisation=organisation,
        name=name.strip(),
        prefix=prefix,
        key_hash=_hash_key(plaintext),
        created_by=created_by,
        expires_at=expires_at,
    )
    return key, plaintext


def api_key_revoke(*, key_id: int, organisation: BuyerOrganisation | None = None) -> ApiKey:
    keys = ApiKey.objects.filter(pk=key_id)
    if organisation is not None:
        keys = keys.filter(organisation=organisation)
    updated = keys.filter(revoked_at=None).update(revoked_at=timezone.now())
    key = keys.first()
    if key is None:
        raise NotFound("api_key_not_found", "No such API key.")
    if not updated:
        raise Conflict("api_key_already_revoked", "This API key is already revoked.")
    return key


_KEY_FIELDS = [field.attname for field in ApiKey._meta.concrete_fields]
_ORGANISATION_FIELDS = [field.attname for field in BuyerOrganisation._meta.concrete_fields]
_KEY_WITH_ORGANISATION_SQL = (
    "SELECT {key}, {organisation} FROM {key_table} k JOIN {organisation_table} o "
    "ON o.{organisation_pk} = k.{organisation_fk} WHERE k.{prefix} = %s"
).format(
    key=", ".join(f'k."{field.column}"' for field in ApiKey._meta.concrete_fields),
    organisation=", ".join(f'o."{field.column}"' for field in BuyerOrganisation._meta.concrete_fields),
    key_table=ApiKey._meta.db_table,
    organisation_table=BuyerOrganisation._meta.db_table,
    organisation_pk=BuyerOrganisation._meta.pk.column,
    organisation_fk=ApiKey._meta.get_field("organisation").column,
    prefix=ApiKey._meta.get_field("prefix").column,
)


def _api_key_with_organisation(prefix: str) -> ApiKey | None:
    """The key with this prefix and its organisation, in one query. Every API request asks it: on
    PostgreSQL the statement is built once (the ORM spent ~0.4 ms compiling it per request, seven
    times the round trip); elsewhere (SQLite's values need the ORM's converters) the ORM's."""
    if connection.vendor != "postgresql":
        return ApiKey.objects.select_related("organisation").filter(prefix=prefix).first()
    with connection.cursor() as cursor:
        cursor.execute(_KEY_WITH_ORGANISATION_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_KEY_FIELDS)
    key = ApiKey.from_db(connection.alias, _KEY_FIELDS, row[:split])
    key.organisation = BuyerOrganisation.from_db(connection.alias, _ORGANISATION_FIELDS, row[split:])
    return key


def api_key_authenticate(*, plaintext: str) -> ApiKey | None:
    """The usable key matching `plaintext`, or None. Touches last_used_at at most once a minute."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = _api_key_with_organisation(parts[1])
    now = timezone.now()
    if key is None or not hmac.compare_digest(key.key_hash, _hash_key(plaintext)) or not key.is_usable(now):
        return None
    stale_before = now - settings.API_KEY_LAST_USED_RESOLUTION
    if key.last_used_at is None or key.last_used_at < stale_before:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# ---------------------------------------------------------------------------------------------
# Seller data
# ---------------------------------------------------------------------------------------------

POSTCODE_RE = re.compile(r"\d{5}")
PHONE_RE = re.compile(r"\+\d{8,15}")


def _data_fernet(seller: User):
    key = SellerDataKey.objects.filter(seller=seller).values_list("wrapped_key", flat=True).first()
    return crypto.data_fernet(key)


def _check_choice(field: str, value: str, choices: type) -> str:
    if value and value not in choices.values:
        raise InvalidInput("value_unknown", f"{value!r} is not a valid {field}.", field=field)
    return value


def _normalise_phone(phone: str) -> str:
    compact = re.sub(r"[\s.\-()]", "", phone)
    if compact.startswith("0") and len(compact) == 10:  # French national format
        compact = "+33" + compact[1:]
    if not PHONE_RE.fullmatch(compact):
        raise InvalidInput(
            "phone_invalid", "Use an international number such as +33612345678.", field="phone"
        )
    return compact


_UNSET: Any = object()


def seller_profile_update(
    *,
    seller: User,
    gender: str = _UNSET,
    region: str = _UNSET,
    mobile_os: str = _UNSET,
    mobile_operator: str = _UNSET,
    interests: list[str] = _UNSET,
    affinities: list[str] = _UNSET,
    birth_date: date | None = _UNSET,
    postcode: str = _UNSET,
    phone: str = _UNSET,
    today: date | None = None,
) -> SellerProfile:
    """Update the fields given (the others stay). Validates everything before writing anything."""
    if seller.role != User.Role.SELLER or seller.erased_at:
        raise Forbidden("not_a_seller", "Only an active seller has a data profile.")
    changes: dict[str, Any] = {}
    precise: dict[str, str | None] = {}
    choice_fields = {
        "gender": (gender, taxonomy.Gender),
        "region": (region, taxonomy.Region),
        "mobile_os": (mobile_os, taxonomy.MobileOS),
        "mobile_operator": (mobile_operator, taxonomy.MobileOperator),
    }
    for field, (value, choices) in choice_fields.items():
        if value is not _UNSET:
            changes[field] = _check_choice(field, value or "", choices)
    for field, value, vocabulary in (
        ("interests", interests, taxonomy.INTEREST_CODES),
        ("affinities", affinities, taxonomy.AFFINITY_CODES),
    ):
        if value is not _UNSET:
            try:
                changes[f"{field}_mask"] = taxonomy.mask_of(value or [], vocabulary)
            except ValueError as exc:
                raise InvalidInput(
                    "value_unknown", f"{exc} is not a known {field[:-1]}.", field=field
                ) from None
    if birth_date is not _UNSET:
        if birth_date is None:
            changes["age_band"], precise["birth_date"] = "", None
        else:
            today = today or timezone.localdate()
            if birth_date > today or taxonomy.age_on(birth_date, today) > 120:
                raise InvalidInput("birth_date_invalid", "Enter a real birth date.", field="birth_date")
            try:
                changes["age_band"] = taxonomy.age_band_for(birth_date, today)
            except ValueError:
                raise InvalidInput("under_age", "Sellers must be 18 or older.", field="birth_date") from None
            precise["birth_date"] = birth_date.isoformat()
    if postcode is not _UNSET:
        postcode = (postcode or "").strip()
        if postcode and not POSTCODE_RE.fullmatch(postcode):
            raise InvalidInput("postcode_invalid", "A French postcode has five digits.", field="postcode")
        precise["postcode"] = postcode or None
    if phone is not _UNSET:
        precise["phone"] = _normalise_phone(phone) if phone else None

    with transaction.atomic():
        profile = SellerProfile.objects.select_for_update().get(seller=seller)
        if precise:
            fernet = _data_fernet(seller)
            for field, value in precise.items():
                changes[f"{field}_encrypted"] = crypto.encrypt(fernet, value) if value else None
            if "phone" in precise:
                old_phone = seller_precise_values(seller=seller).get("phone")
                if old_phone != precise["phone"]:
                    User.objects.filter(pk=seller.pk).update(phone_verified_at=None)
        for field, value in changes.items():
            setattr(profile, field, value)
        profile.save()
    return profile


def life_event_set(*, seller: User, kind: str, details: str = "") -> LifeEvent:
    if kind not in taxonomy.LifeEventKind.values:
        raise InvalidInput("value_unknown", f"{kind!r} is not a known life event.", field="kind")
    if len(details) > 1000:
        raise InvalidInput("details_too_long", "Keep details under 1,000 characters.", field="details")
    fernet = _data_fernet(seller)
    encrypted = crypto.encrypt(fernet, details) if details else None
    event, _created = LifeEvent.objects.update_or_create(
        seller=seller, kind=kind, defaults={"details_encrypted": encrypted}
    )
    return event


def life_event_remove(*, seller: User, kind: str) -> None:
    deleted, _ = LifeEvent.objects.filter(seller=seller, kind=kind).delete()
    if not deleted:
        raise NotFound("life_event_not_found", "No such life event.")


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


def life_event_details(*, seller: User, events: list[LifeEvent]) -> dict[int, str]:
    try:
        fernet = _data_fernet(seller)
    except crypto.DataKeyDestroyed:
        return {}
    return {e.pk: crypto.decrypt(fernet, e.details_encrypted) if e.details_encrypted else "" for e in events}


def encryption_keys_rotate(*, batch_size: int = 1000) -> int:
    """Re-wrap every seller data key under the primary master key. Idempotent; returns the count."""
    done = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            keys = list(
                SellerDataKey.objects.select_for_update(skip_locked=True)
                .filter(pk__gt=last_pk, wrapped_key__isnull=False)
                .order_by("pk")[:batch_size]
            )
            if not keys:
                return done
            now = timezone.now()
            for key in keys:
                key.wrapped_key = crypto.rewrap(key.wrapped_key)
                key.rotated_at = now
            SellerDataKey.objects.bulk_update(keys, ["wrapped_key", "rotated_at"])
            done += len(keys)
            last_pk = keys[-1].pk


def seller_age_bands_refresh(*, today: date | None = None, batch_size: int = 2000) -> int:
    """Re-derive every seller's age band from their encrypted birth date, as of `today` (local
    date); returns how many bands changed. Idempotent: beat runs it just after every midnight
    (config/settings/base.py), and a run that was missed is caught up by the next one.

    Why every birth date is decrypted instead of only those whose band is due to change: the
    day a band changes is a birthday (the 25th, 35th, …), so storing it in clear, to let SQL
    pick the due rows, would store the birth date itself; storing its year and month would
    still give away the month and year of birth, and SQL cannot decrypt. So the clear columns
    keep only the band, and the sweep costs one pass a day over the sellers not yet 65+ (two
    Fernet decryptions each, no lock held; see README, Privacy). Bands are still derived at
    every save of the birth date (`seller_profile_update`), so a band is at most one sweep old.

    A changed band is written only if the birth date is still the one decrypted (same
    ciphertext: Fernet tokens are unique), so a concurrent profile update is never undone.
    """
    today = today or timezone.localdate()
    changed = 0
    last_pk = 0
    while True:
        rows = list(
            SellerProfile.objects.filter(seller_id__gt=last_pk, birth_date_encrypted__isnull=False)
            .exclude(age_band=taxonomy.AgeBand.A65_PLUS)  # the last band never changes
            .order_by("seller_id")
            .values_list("seller_id", "age_band", "birth_date_encrypted", "seller__data_key__wrapped_key")[
                :batch_size
            ]
        )
        if not rows:
            return changed
        last_pk = rows[-1][0]
        for seller_id, band, token, wrapped_key in rows:
            try:
                birth_date = date.fromisoformat(crypto.decrypt(crypto.data_fernet(wrapped_key), token))
                new_band = taxonomy.age_band_for(birth_date, today)
            except (crypto.DataKeyDestroyed, ValueError):
                continue  # erased, or not a date we stored: nothing to derive
            if new_band != band:
                changed += SellerProfile.objects.filter(
                    seller_id=seller_id, birth_date_encrypted=token, age_band=band
                ).update(age_band=new_band, updated_at=timezone.now())


# ---------------------------------------------------------------------------------------------
# Consent
# ---------------------------------------------------------------------------------------------


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
    grant = ConsentGrant.objects.select_for_update().filter(pk=grant_id, seller=seller).first()
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


# ---------------------------------------------------------------------------------------------
# GDPR erasure (Art. 17)
# ---------------------------------------------------------------------------------------------


def seller_erase(*, seller: User) -> User:
    """Erase a seller: consents revoked (with cascades), data key destroyed, precise values and
    attributes cleared, identity anonymised. Consent history stays, under the pseudonym."""
    with transaction.atomic(durable=True):
        now = timezone.now()
        grants = list(
            ConsentGrant.objects.select_for_update()
            .filter(seller=seller, status=ConsentGrant.Status.ACTIVE)
            .order_by("pk")
        )
        user = User.objects.select_for_update().get(pk=seller.pk)
        if user.erased_at is not None:
            raise Conflict("already_erased", "This account was already erased.")
        if user.role != User.Role.SELLER:
            raise Forbidden("not_a_seller", "Only a seller account can be erased here.")
        for grant in grants:
            grant.seller = user
        _end_grants_locked(grants, ConsentGrant.Status.REVOKED, now, "erasure")
        SellerDataKey.objects.filter(seller=user).update(wrapped_key=None, destroyed_at=now)
        SellerProfile.objects.filter(seller=user).update(
            age_band="",
            gender="",
            region="",
            mobile_os="",
            mobile_operator="",
            interests_mask=0,
            affinities_mask=0,
            birth_date_encrypted=None,
            postcode_encrypted=None,
            phone_encrypted=None,
        )
        LifeEvent.objects.filter(seller=user).delete()
        user.email = f"erased-{user.pseudonym}@erased.invalid"
        user.full_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.email_verified_at = None
        user.phone_verified_at = None
        user.erased_at = now
        user.save()
    return user
