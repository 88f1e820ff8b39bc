"""Staff sign in to the admin with a second factor (issue 14): an authenticator app's code or a
single-use recovery code; a staff member without one is refused the admin and sent to set one up;
wrong codes count towards django-axes' lock-out like wrong passwords."""

from __future__ import annotations

import re
from base64 import b32decode
from binascii import hexlify

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles
from core.models import AuditEntry
from tests.factories import STAFF_TOTP_KEY, ModeratorFactory, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "moderator-password"
LOGIN = "/admin/login/"


def _login(client: Client, email: str, code: str = "", password: str = PASSWORD):
    return client.post(LOGIN, {"username": email, "password": password, "otp_token": code, "next": "/admin/"})


def test_a_moderator_is_staff_in_the_moderators_group_without_delete_permission(moderator, dpo):
    assert moderator.is_staff and not moderator.is_superuser
    assert list(moderator.groups.values_list("name", flat=True)) == [roles.MODERATORS]
    permissions = moderator.get_all_permissions()
    assert "listings.change_listing" in permissions and "accounts.change_buyerorganisation" in permissions
    assert not [p for p in permissions if ".delete_" in p or ".add_" in p]
    assert roles.PRECISE_VALUES_PERMISSION not in permissions
    assert dpo.get_all_permissions() == permissions | {roles.PRECISE_VALUES_PERMISSION}


def test_roles_sync_is_idempotent():
    before = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    roles.roles_sync()
    roles.roles_sync()
    after = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    assert after == before and set(after) == {roles.MODERATORS, roles.DATA_PROTECTION_OFFICERS}


def test_delete_selected_is_not_offered_anywhere():
    assert "delete_selected" not in dict(admin.site.actions)


def test_a_password_alone_does_not_open_the_admin(client, moderator):
    client.force_login(moderator)  # signed in, no second factor passed in this session
    response = client.get("/admin/")
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    page = client.get(response.url)  # the login form again, asking the code
    assert page.status_code == 200 and 'name="otp_token"' in page.content.decode()


@pytest.fixture
def no_throttle(settings):
    """django-otp refuses any code for a second after a wrong one (then 2, 4…): a person types
    slower than a test."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def test_staff_without_a_device_is_refused_and_sent_to_set_one_up(client, no_throttle):
    staff = ModeratorFactory(totp=False)

    signed_in = _login(client, staff.email)

    assert signed_in.status_code == 302 and signed_in.url.startswith(reverse("staff-second-factor"))
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/accounts/user/").status_code == 302
    # coming back to the admin sends them to set it up again
    assert client.get(LOGIN).url.startswith(reverse("staff-second-factor"))

    page = client.get(signed_in.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and "http" not in re.search(r"<svg.*?</svg>", html, re.S).group(0).replace(
        "http://www.w3.org/2000/svg", ""
    )
    secret = re.search(r"<code data-secret>([A-Z2-7 ]+)</code>", html).group(1).replace(" ", "")
    device = TOTPDevice.objects.get(user=staff)
    assert not device.confirmed and hexlify(b32decode(secret)).decode() == device.key
    # reloading keeps the secret they may have scanned
    assert secret in client.get(signed_in.url).content.decode().replace(" ", "")

    # a wrong code is refused
    wrong = client.post(reverse("staff-second-factor"), {"code": "000000"})
    assert wrong.status_code == 200 and "This code is wrong" in wrong.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/admin/").status_code == 302

    # the right one confirms the app and shows ten recovery codes, once
    done = client.post(reverse("staff-second-factor"), {"code": totp_code(device.key)})
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert done.status_code == 200 and len(codes) == 10 == len(set(codes))
    assert sorted(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)) == sorted(
        codes
    )
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert AuditEntry.objects.filter(action="staff.second_factor_enrolled", target_id=str(staff.pk)).exists()
    # and this session has passed the second factor
    assert client.get("/admin/").status_code == 200
    # the page does not show the codes again
    assert client.get(reverse("staff-second-factor")).status_code == 302


def test_the_login_asks_the_code_and_refuses_a_wrong_one(moderator, no_throttle):
    client = Client()
    missing = _login(client, moderator.email, "")
    assert missing.status_code == 200 and "Enter the code" in missing.content.decode()
    wrong = _login(client, moderator.email, "000000" if totp_code() != "000000" else "111111")
    assert wrong.status_code == 200 and "This code is wrong" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    right = _login(client, moderator.email, totp_code(STAFF_TOTP_KEY))
    assert right.status_code == 302 and right.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_recovery_code_works_once(moderator, no_throttle):
    from accounts.services import second_factor

    codes = second_factor.recovery_codes_replace(user=moderator)

    first = Client()
    assert _login(first, moderator.email, codes[0].upper()).status_code == 302
    assert first.get("/admin/").status_code == 200

    again = Client()
    reused = _login(again, moderator.email, codes[0])
    assert reused.status_code == 200 and "This code is wrong" in reused.content.decode()
    assert again.get("/admin/").status_code == 302
    assert StaticToken.objects.filter(device__user=moderator).count() == 9


def test_wrong_codes_lock_the_login_out_like_wrong_passwords(client, moderator):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, moderator.email, "000000" if totp_code() != "000000" else "111111")

    locked = _login(client, moderator.email, totp_code())
    assert locked.status_code == 429 and "Too many failed attempts" in locked.content.decode()
    assert client.get("/admin/").status_code == 302


def test_wrong_passwords_still_lock_the_admin_login_out(client, moderator):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, moderator.email, totp_code(), password="wrong").status_code == 200
    assert _login(client, moderator.email, totp_code(), password="wrong").status_code == 429

    locked = _login(client, moderator.email, totp_code())
    assert locked.status_code == 429 and "Too many failed attempts" in locked.content.decode()


def test_the_login_and_set_up_pages_speak_french():
    staff = ModeratorFactory(totp=False)
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")

    login = client.get(LOGIN)
    assert "Le code à 6 chiffres de votre application" in login.content.decode()
    _login(client, staff.email)
    page = client.get(reverse("staff-second-factor"))
    assert "Scannez ce QR code avec l" in page.content.decode()


def test_the_demo_staff_sign_in_with_the_printed_secret(moderator):
    from accounts.services import second_factor
    from marketplace.demo.data import MODERATOR_RECOVERY_CODES, STAFF_TOTP_SECRET

    second_factor.second_factor_set(
        user=moderator, totp_secret=STAFF_TOTP_SECRET, recovery_codes=MODERATOR_RECOVERY_CODES
    )
    key = hexlify(b32decode(STAFF_TOTP_SECRET)).decode()

    assert _login(Client(), moderator.email, totp_code(key)).status_code == 302
    assert _login(Client(), moderator.email, MODERATOR_RECOVERY_CODES[0]).status_code == 302
