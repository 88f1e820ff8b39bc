"""Identities: seller and buyer-member accounts, email and phone verification, buyer API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts import crypto
from accounts.models import ApiKey, ApiScope, BuyerOrganisation, SellerDataKey, SellerProfile, User
from accounts.selectors import seller_precise_values
from core import audit
from core.errors import Conflict, InvalidInput, NotFound


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
    *,
    organisation: BuyerOrganisation,
    email: str,
    password: str | None,
    full_name: str = "",
    organisation_role: str = User.OrganisationRole.OWNER,
    language: str = "en",
) -> User:
    if organisation_role not in User.OrganisationRole.values:
        raise InvalidInput("role_unknown", "Choose owner, developer or finance.", field="role")
    email = User.objects.normalize_email(email).lower()
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email,
                password,
                full_name=full_name,
                role=User.Role.BUYER,
                organisation=organisation,
                organisation_role=organisation_role,
                preferred_language=language,
            )
    except IntegrityError:
        raise Conflict("email_taken", "An account with this email already exists.", field="email") from None


EMAIL_VERIFICATION_SALT = "courtier.email-verification"
EMAIL_VERIFICATION_MAX_AGE = timedelta(days=3)


def email_verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email}, salt=EMAIL_VERIFICATION_SALT)


def email_verification_send(*, user: User) -> None:
    """Email the verification link (at sign-up, and again from the verification page)."""
    token = email_verification_token(user)
    # SITE_URL, not the request's Host header: an emailed link must not point elsewhere.
    link = settings.SITE_URL.rstrip("/") + reverse("email-verify", args=[token])
    context = {"user": user, "link": link}
    with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
        subject = render_to_string("registration/email_verification_subject.txt", context).strip()
        body = render_to_string("registration/email_verification.txt", context)
    send_mail(subject, body, None, [user.email])


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


def phone_code(subject: str, phone: str, step: int) -> str:
    """A six-digit code for (subject, phone) in one time step; derived, so nothing is stored.
    `subject` names who is verified (a user's pk, "organisation:<pk>" for a buyer's contact)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"{subject}:{phone}:{step}".encode(), hashlib.sha256
    ).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 1_000_000:06d}"


def phone_code_step(at: datetime | None = None) -> int:
    return int((at or timezone.now()).timestamp()) // PHONE_CODE_STEP


def phone_code_matches(subject: str, phone: str, code: str, at: datetime | None = None) -> bool:
    """The current and the previous step's codes are accepted."""
    step = phone_code_step(at)
    return any(hmac.compare_digest(code.strip(), phone_code(subject, phone, s)) for s in (step, step - 1))


def _phone_code(user: User, phone: str, step: int) -> str:
    return phone_code(str(user.pk), phone, step)


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
    if not phone_code_matches(str(seller.pk), phone, code, at):
        raise InvalidInput("code_invalid", "This code is wrong or expired.", field="code")
    User.objects.filter(pk=seller.pk).update(phone_verified_at=timezone.now())


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
    scopes: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never stored or shown again.
    `scopes` defaults to every scope."""
    scopes = list(ApiScope.values) if scopes is None else scopes
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown or not scopes:
        raise InvalidInput("scope_invalid", f"Unknown or no scopes: {', '.join(unknown)}.", field="scopes")
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
        scopes=[scope for scope in ApiScope.values if scope in scopes],
    )
    return key, plaintext


def api_key_revoke(
    *,
    key_id: int,
    organisation: BuyerOrganisation | None = None,
    moderator: User | None = None,
    reason: str = "",
) -> ApiKey:
    """Revoke a key: by its organisation (console, API), or by a moderator with a reason (audited)."""
    keys = ApiKey.objects.filter(pk=key_id)
    if organisation is not None:
        keys = keys.filter(organisation=organisation)
    with transaction.atomic():
        updated = keys.filter(revoked_at=None).update(revoked_at=timezone.now())
        key = keys.first()
        if key is None:
            raise NotFound("not_found", "No such API key.")
        if not updated:
            raise Conflict("api_key_already_revoked", "This API key is already revoked.")
        if moderator is not None:
            audit.record("api_key.revoked", key, reason=reason, actor=moderator)
    return key


def api_key_rotate(
    *, key_id: int, organisation: BuyerOrganisation, created_by: User | None = None
) -> tuple[ApiKey, ApiKey, str]:
    """A new key with the old one's name and scopes; the old key stays valid for
    `API_KEY_ROTATION_GRACE` (its expires_at is brought forward, never pushed back), so both
    work while clients switch. Returns (old, new, the new plaintext shown once)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        old = (
            ApiKey.objects.select_for_update(of=("self",))
            .filter(pk=key_id, organisation=organisation)
            .first()
        )
        if old is None:
            raise NotFound("not_found", "No such API key.")
        if not old.is_usable(now):
            raise Conflict("api_key_not_usable", "This API key is revoked or expired: create a new one.")
        grace_end = now + settings.API_KEY_ROTATION_GRACE
        if old.expires_at is None or old.expires_at > grace_end:
            old.expires_at = grace_end
            old.save(update_fields=["expires_at"])
        new, plaintext = api_key_create(
            organisation=organisation, name=old.name, created_by=created_by, scopes=list(old.scopes)
        )
    return old, new, plaintext


def api_key_authenticate(*, plaintext: str) -> ApiKey | None:
    """The usable key matching `plaintext`, or None. Touches last_used_at at most once a minute."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    try:  # prefix is unique: get() needs no ORDER BY, unlike first()
        key = ApiKey.objects.select_related("organisation").get(prefix=parts[1])
    except ApiKey.DoesNotExist:
        return None
    now = timezone.now()
    if not hmac.compare_digest(key.key_hash, _hash_key(plaintext)) or not key.is_usable(now):
        return None
    stale_before = now - settings.API_KEY_LAST_USED_RESOLUTION
    if key.last_used_at is None or key.last_used_at < stale_before:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
