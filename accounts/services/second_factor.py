"""A staff member's second factor for the admin (issue 14): an authenticator app (TOTP, RFC 6238)
and ten single-use recovery codes (django-otp's static device)."""

from __future__ import annotations

from base64 import b32decode
from binascii import hexlify

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from core import audit

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The authenticator the user is setting up: the same secret until they confirm it (reloading
    the page does not change the QR code they may have scanned already)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def recovery_codes_replace(*, user: User, codes: list[str] | None = None) -> list[str]:
    """The user's recovery codes, all new (the old ones stop working); shown once, stored as
    django-otp stores them. `codes` fixes them (the demo's, printed at start)."""
    codes = codes or [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
        StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def totp_device_confirm(*, user: User, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the authenticator with a code it shows; None if the code is wrong. On success the
    user's other authenticators are removed and ten new recovery codes returned (shown once)."""
    if device.user_id != user.pk or device.confirmed:
        return None
    with transaction.atomic():
        if not device.verify_token("".join(token.split())):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = recovery_codes_replace(user=user)
        audit.record("staff.second_factor_enrolled", user, actor=user)
    return codes


def second_factor_set(*, user: User, totp_secret: str, recovery_codes: list[str]) -> None:
    """Give the user a confirmed authenticator with this base32 secret and these recovery codes,
    in place of any they had: for the demo's staff, whose codes are printed at start."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        TOTPDevice.objects.create(
            user=user,
            name=TOTP_DEVICE_NAME,
            key=hexlify(b32decode(totp_secret)).decode(),
            confirmed=True,
        )
        recovery_codes_replace(user=user, codes=recovery_codes)
