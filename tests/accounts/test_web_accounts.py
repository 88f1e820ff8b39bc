"""Seller accounts on the web: the verification email at sign-up, password reset, lock-out after
failed logins (django-axes), sessions listed and closed, the landing page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import selectors, services
from accounts.models import LoginSession, User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.SellerFactory


def _link_in(body: str, marker: str) -> str:
    """The path of the first link in an email body that contains `marker`."""
    url = next(word for word in body.split() if marker in word)
    assert url.startswith(settings.SITE_URL.rstrip("/"))  # never the request's Host header
    return url[len(settings.SITE_URL.rstrip("/")) :]


# --- sign-up sends the verification email -------------------------------------------------------


def test_sign_up_sends_the_verification_email_in_the_sellers_language(client):
    response = client.post(
        reverse("signup"),
        {
            "email": "lea@example.test",
            "password1": "un mot de passe solide",
            "password2": "un mot de passe solide",
            "full_name": "Léa Martin",
            "language": "fr",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["lea@example.test"]
    assert message.subject == "Vérifiez votre e-mail pour Courtier"
    path = _link_in(message.body, "/verify/email/")
    assert "lea@example.test" in response.content.decode()  # "we sent a link to …"

    assert client.post(path).status_code == 302
    assert User.objects.get(email="lea@example.test").email_verified_at is not None


def test_verification_page_shows_the_masked_phone_number(client, seller):
    client.force_login(seller)
    services.seller_profile_update(seller=seller, phone="+33612345678")

    page = client.get(reverse("seller-verification")).content.decode()

    assert "+33 •••••••78" in page
    assert "612345678" not in page
    assert selectors.mask_phone("+33612345678") == "+33 •••••••78"
    assert selectors.mask_phone("0612345678") == "••••••••78"
    assert selectors.mask_phone(None) == ""


# --- password reset -----------------------------------------------------------------------------


def test_password_reset_end_to_end(client, seller):
    assert client.get(reverse("login")).content.decode().count(reverse("password_reset")) == 1

    response = client.post(reverse("password_reset"), {"email": seller.email.upper()})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [seller.email]
    path = _link_in(mail.outbox[0].body, "/password-reset/")

    form_page = client.get(path, follow=True)  # Django swaps the token for a session-held one
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    set_password_path = form_page.redirect_chain[-1][0]
    done = client.post(
        set_password_path, {"new_password1": "a brand new secret", "new_password2": "a brand new secret"}
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")

    seller.refresh_from_db()
    assert seller.check_password("a brand new secret")
    assert client.get(path, follow=True).context["validlink"] is False  # the link works once
    login = client.post(reverse("login"), {"username": seller.email, "password": "a brand new secret"})
    assert login.status_code == 302


def test_password_reset_does_not_reveal_whether_an_account_exists(client, seller):
    known = client.post(reverse("password_reset"), {"email": seller.email})
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.test"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    assert [message.to for message in mail.outbox] == [[seller.email]]


def test_password_reset_pages_in_french(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    page = client.get(reverse("password_reset")).content.decode()

    assert "Réinitialiser votre mot de passe" in page


# --- lock-out after repeated failures (django-axes) ----------------------------------------------


def _fail(client: Client, url: str, email: str, times: int, **extra):
    return [client.post(url, {"username": email, "password": "wrong"}, **extra) for _ in range(times)]


def test_lock_out_after_repeated_failures_then_cool_off(client, seller):
    limit = settings.AXES_FAILURE_LIMIT
    responses = _fail(client, reverse("login"), seller.email, limit)

    assert [r.status_code for r in responses[:-1]] == [200] * (limit - 1)
    assert responses[-1].status_code == 429  # a form error on the login page, never a 500
    assert "Too many failed attempts" in responses[-1].content.decode()
    assert responses[-1].context["form"].errors["__all__"][0].startswith("Too many failed attempts")

    # locked: even the right password is refused from this address…
    locked = client.post(reverse("login"), {"username": seller.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # …but not from another one (the lock is per user and IP)
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    assert (
        elsewhere.post(reverse("login"), {"username": seller.email, "password": PASSWORD}).status_code == 302
    )

    # after the cool-off, the right password works again
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    unlocked = client.post(reverse("login"), {"username": seller.email, "password": PASSWORD})
    assert unlocked.status_code == 302
    assert client.session["_auth_user_id"] == str(seller.pk)


def test_the_lock_is_per_account_and_ignores_the_emails_case(client, seller):
    other = services.seller_create(email="other@example.test", password=PASSWORD)
    _fail(client, reverse("login"), seller.email.upper(), settings.AXES_FAILURE_LIMIT - 1)

    assert _fail(client, reverse("login"), seller.email, 1)[-1].status_code == 429  # same account
    # another account from the same address is not locked
    assert client.post(reverse("login"), {"username": other.email, "password": PASSWORD}).status_code == 302


def test_a_password_reset_ends_the_lock_out(client, seller):
    _fail(client, reverse("login"), seller.email, settings.AXES_FAILURE_LIMIT)
    client.post(reverse("password_reset"), {"email": seller.email})
    form_page = client.get(_link_in(mail.outbox[-1].body, "/password-reset/"), follow=True)
    new = {"new_password1": "a brand new secret", "new_password2": "a brand new secret"}
    assert client.post(form_page.redirect_chain[-1][0], new).status_code == 302

    assert (
        client.post(
            reverse("login"), {"username": seller.email, "password": new["new_password1"]}
        ).status_code
        == 302
    )


def test_lock_out_in_french(client, seller):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    last = _fail(client, reverse("login"), seller.email, settings.AXES_FAILURE_LIMIT)[-1]

    assert last.status_code == 429
    assert "Trop de tentatives" in last.content.decode()


def test_a_success_resets_the_count(client, seller):
    _fail(client, reverse("login"), seller.email, settings.AXES_FAILURE_LIMIT - 1)
    assert client.post(reverse("login"), {"username": seller.email, "password": PASSWORD}).status_code == 302
    client.post(reverse("logout"))

    assert (
        _fail(client, reverse("login"), seller.email, settings.AXES_FAILURE_LIMIT - 1)[-1].status_code == 200
    )


def test_console_login_is_locked_out_too(client, verified_organisation):
    services.buyer_member_create(organisation=verified_organisation, email="b@x.test", password="pw-12345678")

    last = _fail(client, reverse("console-login"), "b@x.test", settings.AXES_FAILURE_LIMIT)[-1]

    assert last.status_code == 429
    assert "Too many failed attempts" in last.content.decode()
    assert (
        client.post(reverse("console-login"), {"username": "b@x.test", "password": "pw-12345678"}).status_code
        == 429
    )


def test_admin_login_is_locked_out_too(client, moderator):
    last = _fail(client, reverse("admin:login"), moderator.email, settings.AXES_FAILURE_LIMIT)[-1]

    assert last.status_code == 429
    assert "Too many failed attempts" in last.content.decode()


def test_force_login_is_not_counted(client, seller):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        client.force_login(seller)
    assert client.get(reverse("seller-dashboard")).status_code == 200
    assert not AccessAttempt.objects.exists()


# --- sessions listed and closed ------------------------------------------------------------------


def _log_in(seller, user_agent: str, ip: str) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    assert client.post(reverse("login"), {"username": seller.email, "password": PASSWORD}).status_code == 302
    return client


def test_sessions_listed_and_closing_one_logs_it_out(seller):
    phone = _log_in(
        seller, "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36", "198.51.100.7"
    )
    laptop = _log_in(
        seller, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "192.0.2.4"
    )

    page = laptop.get(reverse("seller-sessions"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Chrome on Android" in html and "198.51.100.7" in html
    assert "Firefox on Linux" in html and "192.0.2.4" in html
    assert html.count("This device") == 1
    rows = page.context["sessions"]
    assert [row["current"] for row in rows if row["device"] == "Firefox on Linux"] == [True]
    assert all(key not in html for key in LoginSession.objects.values_list("session_key", flat=True))

    phone_row = LoginSession.objects.get(ip_address="198.51.100.7")
    closed = laptop.post(reverse("seller-session-close", args=[phone_row.pk]), follow=True)
    assert closed.status_code == 200
    assert "198.51.100.7" not in closed.content.decode()

    # the phone's session is gone: it is logged out on its next request
    assert phone.get(reverse("seller-consents"))["Location"].startswith(reverse("login"))
    assert laptop.get(reverse("seller-consents")).status_code == 200


def test_closing_someone_elses_session_is_refused(seller):
    other = services.seller_create(email="other@example.test", password=PASSWORD)
    theirs = _log_in(other, "Firefox/133.0", "192.0.2.1")
    mine = _log_in(seller, "Firefox/133.0", "192.0.2.2")

    row = LoginSession.objects.get(user=other)
    response = mine.post(reverse("seller-session-close", args=[row.pk]), follow=True)

    assert response.status_code == 200
    assert "No such session." in response.content.decode()
    assert theirs.get(reverse("seller-consents")).status_code == 200


def test_closing_the_current_session_logs_out_and_logout_forgets_it(seller):
    client = _log_in(seller, "Firefox/133.0", "192.0.2.2")
    row = LoginSession.objects.get(user=seller)

    response = client.post(reverse("seller-session-close", args=[row.pk]))

    assert response["Location"] == reverse("login")
    assert not LoginSession.objects.filter(user=seller).exists()
    client = _log_in(seller, "Firefox/133.0", "192.0.2.2")
    client.post(reverse("logout"))
    assert not LoginSession.objects.filter(user=seller).exists()


def test_last_activity_is_touched_at_most_every_few_minutes(seller, settings):
    client = _log_in(seller, "Firefox/133.0", "192.0.2.2")
    row = LoginSession.objects.get(user=seller)
    LoginSession.objects.filter(pk=row.pk).update(last_seen_at=row.last_seen_at - timedelta(hours=1))

    client.get(reverse("seller-consents"))
    assert LoginSession.objects.get(pk=row.pk).last_seen_at < row.last_seen_at  # not yet due

    settings.LOGIN_SESSION_TOUCH_SECONDS = 0
    client.get(reverse("seller-consents"))
    assert LoginSession.objects.get(pk=row.pk).last_seen_at >= row.last_seen_at


# --- the landing page -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["Get paid for your own data", "Verified advertisers only", "Withdraw a consent at any time"]),
        (
            "fr",
            [
                "Soyez payé pour vos propres données",
                "Uniquement des annonceurs vérifiés",
                "Retirez un consentement",
            ],
        ),
    ],
)
def test_landing_page_for_anonymous_visitors(client, language, expected):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    for text in expected:
        assert text in html
    for name in ("signup", "login", "privacy-notice", "console-dashboard"):
        assert f'href="{reverse(name)}"' in html


def test_logged_in_sellers_get_their_dashboard_at_the_root(client, seller):
    client.force_login(seller)

    response = client.get("/")

    assert response.status_code == 200
    assert "accounts/dashboard.html" in [template.name for template in response.templates]


@pytest.mark.parametrize("name", ["login", "signup", "password_reset", "privacy-notice", "console-login"])
def test_every_page_links_the_privacy_notice(client, name):
    html = client.get(reverse(name)).content.decode()

    assert re.search(r'<footer[^>]*>.*href="/privacy/".*</footer>', html, re.S)


def test_sessions_are_in_the_export_and_erasure_forgets_them(seller):
    client = _log_in(seller, "Firefox/133.0", "192.0.2.2")
    other_device = _log_in(seller, "Chrome/131.0", "192.0.2.3")

    export = selectors.seller_export(seller=seller)["sessions"]
    assert sorted(row["ip_address"] for row in export) == ["192.0.2.2", "192.0.2.3"]
    assert {"user_agent", "logged_in_at", "last_seen_at"} <= set(export[0])

    services.seller_erase(seller=seller)

    assert not LoginSession.objects.filter(user=seller).exists()
    assert other_device.get(reverse("seller-consents"))["Location"].startswith(reverse("login"))
    assert client.get(reverse("seller-consents"))["Location"].startswith(reverse("login"))


def test_logging_in_over_another_users_session_is_recorded(client, seller):
    other = services.seller_create(email="other@example.test", password=PASSWORD)
    client.force_login(other)

    client.force_login(seller)  # login() flushes the other user's session first

    assert LoginSession.objects.filter(user=seller, session_key=client.session.session_key).exists()
    assert client.get(reverse("seller-sessions")).context["sessions"][0]["current"] is True
