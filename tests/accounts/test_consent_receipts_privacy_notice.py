"""The privacy notice every consent receipt points at (`policyUrl`), and the SITE_URL it is built on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db


def test_the_privacy_notice_is_public_and_says_what_the_law_asks(client):
    response = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = response.content.decode()
    controller = settings.CONSENT_CONTROLLER
    for expected in (
        controller["piiController"],
        controller["address"]["streetAddress"],
        controller["email"],
        "Targeted advertising",  # purposes
        "Life events (sensitive)",  # categories of data
        "sensitive: only with its own explicit consent",
        "buyer organisations (advertisers) that our moderators have verified",  # recipients
        f"within {settings.DELETION_NOTICE_DAYS} days",  # retention
        "30, 90, 180, 365 days",
        "Access and portability",  # rights
        "Rectification",
        "Erasure",
        "Withdrawal",
        "CNIL",
        "How to withdraw consent",
        'href="/consents/"',
    ):
        assert expected in page, expected


def test_the_privacy_notice_is_in_french_too(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    page = client.get("/privacy/").content.decode()

    assert "Politique de confidentialité" in page
    assert "Publicité ciblée" in page and "Comment retirer votre consentement" in page
    assert "réclamation auprès de la CNIL" in page


def test_every_page_links_the_privacy_notice_in_its_footer(client):
    assert 'href="/privacy/"' in client.get("/login/").content.decode()
    client.force_login(SellerFactory())
    footer = client.get("/consents/").content.decode().split('class="site-footer"')[1]
    assert 'href="/privacy/"' in footer


def test_the_privacy_notice_only_answers_get(client):
    assert client.post("/privacy/").status_code == 405


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "a-production-secret-for-this-test-only-0123456789",
    "PSEUDONYM_SECRET": "another-secret-for-pseudonyms-in-this-test-only",
    "DJANGO_ALLOWED_HOSTS": "courtier.example.com",
    "DATABASE_URL": "postgres://courtier@127.0.0.1:5432/courtier",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "FIELD_ENCRYPTION_KEYS": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "STRIPE_API_KEY": "sk_test_throwaway",
    "STRIPE_WEBHOOK_SECRET": "whsec_throwaway",
}


@pytest.mark.parametrize(
    ("site_url", "outcome"),
    [
        ("https://courtier.example.com/", "https://courtier.example.com"),
        ("http://courtier.example.com", "SITE_URL must be the site's https origin"),
        ("https://courtier.example.com/app", "SITE_URL must be the site's https origin"),
        (None, "SITE_URL"),
    ],
)
def test_production_requires_site_url_as_an_https_origin(site_url, outcome):
    env = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(PRODUCTION_ENV)
    if site_url is not None:
        env["SITE_URL"] = site_url
    code = "from django.conf import settings; print(settings.SITE_URL)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )

    assert outcome in result.stdout + result.stderr
    assert (result.returncode == 0) == (site_url == "https://courtier.example.com/")
