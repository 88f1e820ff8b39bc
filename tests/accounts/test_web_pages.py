"""Seller web UI: access, sign up and log in, every page renders, French, verification, my data."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from accounts import services
from accounts.models import ConsentGrant, User
from accounts.taxonomy import DataCategory, Purpose
from tests.factories import ModeratorFactory, SellerFactory

pytestmark = pytest.mark.django_db

SELLER_PAGES = [
    "seller-dashboard",
    "seller-verification",
    "seller-profile",
    "seller-life-events",
    "seller-consents",
    "seller-my-data",
    "seller-my-data-erase",
]


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


@pytest.mark.parametrize("name", SELLER_PAGES)
def test_every_page_renders_for_a_seller(seller_client, seller, name):
    services.consent_grant(
        seller=seller, category=DataCategory.LOCATION, purpose=Purpose.AD_MEASUREMENT, window_days=30
    )
    services.life_event_set(seller=seller, kind="new_job", details="Nurse in Lyon")

    response = seller_client.get(reverse(name))

    assert response.status_code == 200
    assert b"<h1>" in response.content


@pytest.mark.parametrize("name", [name for name in SELLER_PAGES if name != "seller-dashboard"])
def test_anonymous_visitors_are_sent_to_log_in(client, name):
    # "/" (seller-dashboard) shows anonymous visitors the landing page (test_web_accounts.py)
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_buyers_get_403_and_moderators_go_to_the_admin(client, verified_organisation):
    buyer = services.buyer_member_create(
        organisation=verified_organisation, email="b@x.test", password="pw-12345678"
    )
    client.force_login(buyer)
    assert client.get(reverse("seller-consents")).status_code == 403
    assert client.post(reverse("seller-consent-grant"), {}).status_code == 403

    client.force_login(ModeratorFactory())
    response = client.get(reverse("seller-dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_sign_up_creates_a_seller_and_logs_them_in(client):
    response = client.post(
        reverse("signup"),
        {
            "email": "Lea@Example.test",
            "password1": "un mot de passe solide",
            "password2": "un mot de passe solide",
            "full_name": "Léa Martin",
            "language": "fr",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("seller-profile")
    user = User.objects.get(email="lea@example.test")
    assert (user.role, user.full_name, user.preferred_language) == ("seller", "Léa Martin", "fr")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    assert client.get(reverse("seller-dashboard")).status_code == 200


def test_sign_up_errors_are_shown_and_nothing_is_created(client, seller):
    data = {"password1": "un mot de passe solide", "full_name": "X", "language": "en"}

    mismatch = client.post(reverse("signup"), {**data, "email": "new@x.test", "password2": "autre chose"})
    taken = client.post(reverse("signup"), {**data, "email": seller.email, "password2": data["password1"]})
    weak = client.post(
        reverse("signup"), {**data, "email": "n2@x.test", "password1": "123", "password2": "123"}
    )

    assert mismatch.status_code == taken.status_code == weak.status_code == 200
    assert "The two passwords differ." in mismatch.context["form"].errors["password2"]
    assert "An account with this email already exists." in taken.context["form"].errors["email"]
    assert weak.context["form"].errors["password1"]
    assert not User.objects.filter(email__in=["new@x.test", "n2@x.test"]).exists()
    assert User.objects.filter(email=seller.email).count() == 1


def test_log_in_with_email_and_log_out(client, seller):
    assert client.get(reverse("login")).status_code == 200

    response = client.post(
        reverse("login"), {"username": seller.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("seller-dashboard")

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("seller-profile")).status_code == 302
    # "/" shows the landing page to anonymous visitors (tests/accounts/test_web_accounts.py)
    assert "accounts/landing.html" in [t.name for t in client.get(reverse("seller-dashboard")).templates]


def test_wrong_password_is_a_form_error(client, seller):
    response = client.post(reverse("login"), {"username": seller.email, "password": "nope"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_dashboard_shows_badges_and_counts(seller_client, seller):
    services.consent_grant(
        seller=seller, category=DataCategory.DEVICE, purpose=Purpose.MARKET_RESEARCH, window_days=90
    )

    response = seller_client.get(reverse("seller-dashboard"))

    badges = {key: earned for key, _label, earned in response.context["badges"]}
    assert badges == {
        "email_verified": False,
        "phone_verified": False,
        "profile_complete": False,
        "verified_seller": False,
    }
    assert response.context["active_consents"] == 1
    assert b'data-count="active-consents">1<' in response.content


@pytest.mark.parametrize("how", ["header", "cookie"])
def test_pages_are_in_french_when_asked(client, seller, how):
    client.force_login(seller)
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
        headers = {}
    else:
        headers = {"Accept-Language": "fr-FR,fr;q=0.9"}

    dashboard = client.get(reverse("seller-dashboard"), headers=headers).content.decode()
    consents = client.get(reverse("seller-consents"), headers=headers).content.decode()

    assert '<html lang="fr">' in dashboard
    assert "Consentements actifs" in dashboard
    assert "Vos consentements" in consents
    assert "Publicité ciblée" in consents  # a taxonomy label
    assert "Your consents" not in consents


def test_language_switcher_sets_the_cookie(seller_client):
    response = seller_client.post(
        reverse("set_language"), {"language": "fr", "next": reverse("seller-consents")}
    )

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    assert "Vos consentements" in seller_client.get(reverse("seller-consents")).content.decode()


def test_email_verification_link_verifies_on_post(seller_client, seller):
    response = seller_client.post(reverse("email-verification-send"))

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/verify/email/" in line)
    path = link[link.index("/verify/email/") :]
    assert seller_client.get(path).status_code == 200  # a confirm button; a GET changes nothing
    seller.refresh_from_db()
    assert seller.email_verified_at is None

    assert seller_client.post(path).status_code == 302
    seller.refresh_from_db()
    assert seller.email_verified_at is not None


def test_a_bad_email_token_is_refused(seller_client, seller):
    response = seller_client.post(reverse("email-verify", args=["not-a-token"]))

    assert response.status_code == 400
    seller.refresh_from_db()
    assert seller.email_verified_at is None


def test_phone_code_is_logged_and_verifies(seller_client, seller, caplog, settings):
    settings.DEBUG = False
    services.seller_profile_update(seller=seller, phone="06 12 34 56 78")

    with caplog.at_level(logging.INFO, logger="courtier.sms"):
        response = seller_client.post(reverse("phone-code-send"), follow=True)
    code = services.phone_verification_code(seller=seller)
    assert any(code in record.getMessage() for record in caplog.records if record.name == "courtier.sms")
    assert code not in response.content.decode()  # only shown on screen in DEBUG

    wrong = seller_client.post(reverse("phone-verify"), {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 200
    assert wrong.context["code_form"].errors["code"] == ["This code is wrong or expired."]
    seller.refresh_from_db()
    assert seller.phone_verified_at is None

    assert seller_client.post(reverse("phone-verify"), {"code": code}).status_code == 302
    seller.refresh_from_db()
    assert seller.phone_verified_at is not None


def test_phone_code_shown_on_screen_only_in_debug(seller_client, seller, settings):
    settings.DEBUG = True
    services.seller_profile_update(seller=seller, phone="+33612345678")

    response = seller_client.post(reverse("phone-code-send"), follow=True)

    assert services.phone_verification_code(seller=seller) in response.content.decode()


def test_phone_code_without_a_phone_sends_to_the_profile(seller_client):
    response = seller_client.post(reverse("phone-code-send"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("seller-profile")
    assert "Add a phone number first." in response.content.decode()


def test_my_data_shows_everything_stored(seller_client, seller):
    services.seller_profile_update(seller=seller, postcode="69003", interests=["travel", "music"])
    services.life_event_set(seller=seller, kind="moving_house", details="To Lyon in May")

    content = seller_client.get(reverse("seller-my-data")).content.decode()

    # labels, not codes (the JSON download keeps the codes)
    for expected in (seller.email, "69003", "Travel, Music", "Moving house", "To Lyon in May"):
        assert expected in content
    assert "moving_house" not in content


def test_export_downloads_json(seller_client, seller):
    services.seller_profile_update(seller=seller, birth_date=date(1990, 5, 17))
    services.consent_grant(
        seller=seller, category=DataCategory.INTERESTS, purpose=Purpose.MARKET_RESEARCH, window_days=30
    )

    response = seller_client.get(reverse("seller-my-data-export"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="courtier-my-data-')
    data = json.loads(response.content)
    assert data["account"]["email"] == seller.email
    assert data["profile"]["birth_date"] == "1990-05-17"
    assert [g["category"] for g in data["consent_grants"]] == ["interests"]


def test_erase_needs_the_email_typed(seller_client, seller):
    response = seller_client.post(reverse("seller-my-data-erase"), {"email": "someone@else.test"})

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    seller.refresh_from_db()
    assert seller.erased_at is None and seller.is_active


def test_erase_erases_and_logs_out(seller_client, seller):
    grant = services.consent_grant(
        seller=seller, category=DataCategory.LOCATION, purpose=Purpose.AD_MEASUREMENT, window_days=30
    )
    email = seller.email

    response = seller_client.post(reverse("seller-my-data-erase"), {"email": email.upper()})

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    seller.refresh_from_db()
    assert seller.erased_at is not None and not seller.is_active and seller.email != email
    grant.refresh_from_db()
    assert grant.status == ConsentGrant.Status.REVOKED
    assert client_is_logged_out(seller_client)


def client_is_logged_out(client) -> bool:
    return client.get(reverse("seller-profile")).status_code == 302


def test_other_sellers_cannot_be_reached(seller_client):
    other = SellerFactory()
    grant = services.consent_grant(
        seller=other, category=DataCategory.LOCATION, purpose=Purpose.AD_MEASUREMENT, window_days=30
    )

    assert seller_client.get(reverse("seller-consent-revoke", args=[grant.pk])).status_code == 404
    assert seller_client.post(reverse("seller-consent-revoke", args=[grant.pk])).status_code == 404
    grant.refresh_from_db()
    assert grant.status == ConsentGrant.Status.ACTIVE
