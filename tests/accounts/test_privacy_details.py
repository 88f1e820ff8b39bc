"""Privacy details: age bands follow birthdays without a birth date in clear, the pseudonym key is
its own secret, personal data is never cached (Cache-Control: no-store), and every page carries a
Content-Security-Policy that needs no inline script or style."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from accounts import services, tasks
from accounts.models import SellerProfile
from config.celery_app import app
from tests import factories
from tests.conftest import staff_client
from tests.factories import ModeratorFactory, SellerFactory, VerifiedOrganisationFactory

ROOT = Path(__file__).resolve().parent.parent.parent

# ---------------------------------------------------------------------------------------------
# (a) Age bands follow birthdays
# ---------------------------------------------------------------------------------------------


def _seller_born(birth_date: date, today: date):
    seller = SellerFactory()
    services.seller_profile_update(seller=seller, birth_date=birth_date, today=today)
    return seller


def _band(seller) -> str:
    return SellerProfile.objects.get(seller=seller).age_band


@pytest.mark.django_db
def test_the_band_changes_on_the_birthday_and_not_before():
    # given a seller saved at 24, the day before their 25th birthday
    seller = _seller_born(date(2001, 6, 15), today=date(2026, 6, 14))
    assert _band(seller) == "18-24"

    # when the sweep runs that day, nothing changes; the next day, the band moves
    assert services.seller_age_bands_refresh(today=date(2026, 6, 14)) == 0
    assert _band(seller) == "18-24"
    assert services.seller_age_bands_refresh(today=date(2026, 6, 15)) == 1
    assert _band(seller) == "25-34"

    # then running it again changes nothing
    assert services.seller_age_bands_refresh(today=date(2026, 6, 15)) == 0
    assert _band(seller) == "25-34"


@pytest.mark.django_db
def test_a_missed_sweep_is_caught_up_and_every_band_boundary_is_crossed():
    # given sellers just under each boundary, saved years ago
    saved_on = date(2020, 1, 1)
    births = {
        "a": date(1996, 1, 2),  # 24 → 25-34 on 2021-01-02
        "b": date(1986, 1, 2),  # 34 → 35-44
        "c": date(1976, 1, 2),  # 44 → 45-54
        "d": date(1966, 1, 2),  # 54 → 55-64
        "e": date(1956, 1, 2),  # 64 → 65+
    }
    sellers = {name: _seller_born(born, today=saved_on) for name, born in births.items()}
    assert {name: _band(s) for name, s in sellers.items()} == {
        "a": "18-24",
        "b": "25-34",
        "c": "35-44",
        "d": "45-54",
        "e": "55-64",
    }

    # when the first sweep in a long while runs (beat was down), with small batches
    changed = services.seller_age_bands_refresh(today=date(2021, 1, 2), batch_size=2)

    # then every band is right again
    assert changed == 5
    assert {name: _band(s) for name, s in sellers.items()} == {
        "a": "25-34",
        "b": "35-44",
        "c": "45-54",
        "d": "55-64",
        "e": "65+",
    }


@pytest.mark.django_db
def test_erased_sellers_sellers_without_birth_date_and_65_plus_are_left_alone(django_assert_max_num_queries):
    # given an erased seller, one without a birth date, and one aged 70
    erased = _seller_born(date(1990, 1, 1), today=date(2020, 1, 1))
    services.seller_erase(seller=erased)
    no_birth_date = SellerFactory()
    services.seller_profile_update(seller=no_birth_date, region="FR-IDF")
    senior = _seller_born(date(1950, 1, 1), today=date(2020, 1, 1))

    # when the sweep runs: one read per batch and one past the end, no write
    with django_assert_max_num_queries(2):
        changed = services.seller_age_bands_refresh(today=date(2040, 1, 1))

    # then nothing changed
    assert changed == 0
    assert (_band(erased), _band(no_birth_date), _band(senior)) == ("", "", "65+")


def _wait_for_a_blocked_band_update(timeout: float = 10.0) -> bool:
    """True once another session waits on a row lock to update a profile's age band."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                ['UPDATE "accounts_sellerprofile" SET "age_band"%'],
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_profile_saved_while_the_sweep_runs_keeps_its_band():
    # given a seller whose band the sweep will change today
    seller = _seller_born(date(2001, 6, 15), today=date(2026, 6, 14))
    written = threading.Event()
    result: dict[str, object] = {}

    def correct_birth_date() -> None:
        # the seller corrects their birth date (21 today: the same band as before); the row
        # stays locked until the sweep, having read the old birth date, waits to write its band
        try:
            with transaction.atomic():
                services.seller_profile_update(
                    seller=seller, birth_date=date(2005, 1, 1), today=date(2026, 6, 15)
                )
                written.set()
                result["blocked"] = _wait_for_a_blocked_band_update()
        finally:
            connection.close()

    def sweep() -> None:
        try:
            result["changed"] = services.seller_age_bands_refresh(today=date(2026, 6, 15))
        finally:
            connection.close()

    # when the sweep runs while the correction commits
    editor = threading.Thread(target=correct_birth_date)
    editor.start()
    assert written.wait(10)
    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    editor.join(20)
    sweeper.join(20)

    # then the sweep, which decrypted the old birth date (25 today), did not overwrite the band
    # derived from the new one
    assert result == {"blocked": True, "changed": 0}
    assert _band(seller) == "18-24"
    assert services.seller_precise_values(seller=seller)["birth_date"] == "2005-01-01"


@pytest.mark.django_db
def test_the_clear_columns_never_hold_the_birth_date():
    # given a seller with a birth date
    seller = _seller_born(date(1987, 11, 23), today=date(2026, 12, 1))
    services.seller_age_bands_refresh(today=date(2026, 12, 1))

    # then the profile row's clear columns hold nothing of it (only *_encrypted does)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_sellerprofile WHERE seller_id = %s", [seller.pk])
        names = [column.name for column in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
    clear = {name: value for name, value in row.items() if not name.endswith("_encrypted")}
    assert not [
        name
        for name, value in clear.items()
        if isinstance(value, date) and (value.month, value.day) == (11, 23)
    ]
    assert not [name for name, value in clear.items() if "1987" in str(value) or "11-23" in str(value)]
    assert clear["age_band"] == "35-44"


def test_the_sweep_is_a_beat_task_after_midnight_in_paris():
    entry = settings.CELERY_BEAT_SCHEDULE["seller-age-bands-refresh"]

    assert entry["task"] == tasks.seller_age_bands_refresh.name
    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {22, 23} and entry["schedule"].minute == {5}


# ---------------------------------------------------------------------------------------------
# (b) PSEUDONYM_SECRET: its own secret, required in production
# ---------------------------------------------------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "a-production-secret-key-long-enough-for-the-deploy-check-0123456789-abcdefghijkl",
    "DJANGO_ALLOWED_HOSTS": "example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/courtier",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "FIELD_ENCRYPTION_KEYS": "kJ2V7o6n0mYbq1GmC9s4kq3d5m2fW1wV6y8zA0bC1dE=",
    "STRIPE_API_KEY": "sk_test_throwaway",
    "STRIPE_WEBHOOK_SECRET": "whsec_throwaway",
    "SITE_URL": "https://example.com",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # nothing from the test run's own configuration (the payments fixtures point STRIPE_* at
    # loopback sandboxes, which the deploy check rightly warns about)
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PSEUDONYM", "STRIPE_", "SITE_URL"))
    }
    environment.update(PRODUCTION_ENV)
    environment.update(env)
    environment = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_pseudonym_secret():
    result = _manage("check", PSEUDONYM_SECRET=None)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "PSEUDONYM_SECRET" in result.stderr


def test_production_refuses_a_pseudonym_secret_equal_to_the_secret_key():
    result = _manage("check", PSEUDONYM_SECRET=PRODUCTION_ENV["DJANGO_SECRET_KEY"])

    assert result.returncode != 0
    assert "PSEUDONYM_SECRET must differ from DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_a_pseudonym_secret_equal_to_an_old_secret_key():
    result = _manage("check", PSEUDONYM_SECRET="old-key", DJANGO_SECRET_KEY_FALLBACKS="old-key")

    assert result.returncode != 0
    assert "PSEUDONYM_SECRET must differ from DJANGO_SECRET_KEY" in result.stderr


def test_production_with_its_own_pseudonym_secret_passes_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", PSEUDONYM_SECRET="its-own-" + "x" * 60)

    assert result.returncode == 0, result.stderr


def test_the_pseudonym_secret_never_defaults_to_the_secret_key():
    assert settings.PSEUDONYM_SECRET and settings.PSEUDONYM_SECRET != settings.SECRET_KEY
    assert (
        "SECRET_KEY"
        not in (ROOT / "config/settings/base.py").read_text().split("PSEUDONYM_SECRET =")[1].split("\n")[0]
    )


# ---------------------------------------------------------------------------------------------
# (c) Personal data is never cached
# ---------------------------------------------------------------------------------------------

SELLER_PAGES = [
    "seller-dashboard",
    "seller-verification",
    "seller-profile",
    "seller-life-events",
    "seller-consents",
    "seller-listings",
    "seller-listing-new",
    "seller-worth",
    "seller-valuation-json",
    "seller-sales",
    "seller-sales-json",
    "seller-payouts",
    "seller-my-data",
    "seller-my-data-export",
    "seller-my-data-erase",
]


@pytest.fixture
def seller_client(client):
    seller = SellerFactory()
    services.seller_profile_update(seller=seller, birth_date=date(1990, 5, 17), postcode="69003")
    client.force_login(seller)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("name", SELLER_PAGES)
def test_every_seller_page_and_the_export_are_no_store(seller_client, name):
    response = seller_client.get(reverse(name))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert not response.has_header("Expires")


@pytest.mark.django_db
def test_the_export_download_is_no_store(seller_client):
    response = seller_client.get(reverse("seller-my-data-export"))

    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert b"69003" in response.content
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_the_admin_is_no_store_for_a_moderator(client):
    staff_client(ModeratorFactory(), client)  # signed in, second factor passed

    response = client.get(reverse("admin:accounts_sellerprofile_changelist"))

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_public_pages_may_be_cached(client):
    # (the login page is never cached anyway: Django's LoginView is never_cache)
    for url in (reverse("privacy-notice"), "/healthz"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" not in response.get("Cache-Control", ""), url


@pytest.fixture
def queued(monkeypatch):
    """Settlement messages the trade sends at commit, recorded instead of sent (no worker here)."""
    from marketplace import tasks as marketplace_tasks

    sent: list = []
    monkeypatch.setattr(
        marketplace_tasks.trades_settle,
        "delay_on_commit",
        lambda *args: transaction.on_commit(lambda: sent.append(args)),
    )
    return sent


@pytest.mark.django_db(transaction=True)
def test_the_buyer_data_delivery_endpoints_are_no_store(api_client_for, queued):
    from accounts.models import ConsentGrant
    from marketplace.models import AccessGrant
    from tests.marketplace.test_api_delivery import bought_listing, deliver

    # given a delivered trade, then one record's consent withdrawn (a deletion notice); a buyer
    # with a card on file where bidding needs one
    buyer = getattr(factories, "PayingOrganisationFactory", VerifiedOrganisationFactory)()
    trade = bought_listing(buyer)
    (grant,) = deliver(trade)
    client = api_client_for(buyer)
    responses = {
        "records": client.get(f"/api/v1/trades/{trade.public_id}/records/"),
        "grant": client.get(f"/api/v1/access-grants/{grant.public_id}/"),
        "grants": client.get("/api/v1/access-grants/"),
        "trade": client.get(f"/api/v1/trades/{trade.public_id}/"),
        "unknown": client.get("/api/v1/access-grants/00000000-0000-4000-8000-000000000000/"),
        "unauthenticated": client.__class__().get(f"/api/v1/trades/{trade.public_id}/records/"),
    }
    consent = ConsentGrant.objects.filter(seller_id=grant.seller_id, status="active").first()
    services.consent_revoke(seller=consent.seller, grant_id=consent.pk)
    responses["notices"] = client.get("/api/v1/deletion-notices/")
    responses["gone"] = client.get(f"/api/v1/access-grants/{grant.public_id}/")

    # then every answer, errors included, is no-store
    assert {name: r.status_code for name, r in responses.items()} == {
        "records": 200,
        "grant": 200,
        "grants": 200,
        "trade": 200,
        "unknown": 404,
        "unauthenticated": 401,
        "notices": 200,
        "gone": 410,
    }
    assert {name: r["Cache-Control"] for name, r in responses.items()} == dict.fromkeys(responses, "no-store")
    assert AccessGrant.objects.get(pk=grant.pk).status == "revoked"


# ---------------------------------------------------------------------------------------------
# (d) Content-Security-Policy
# ---------------------------------------------------------------------------------------------


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _assert_strict(response) -> None:
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", SELLER_PAGES)
def test_every_seller_page_has_the_csp(seller_client, name):
    response = seller_client.get(reverse(name))

    assert response.status_code == 200
    _assert_strict(response)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/accounts/sellerprofile/",
        "/admin/accounts/user/",  # (moderators add no users)
        "/admin/marketplace/accessgrant/",
    ],
)
def test_the_admin_has_the_csp(client, url):
    staff_client(ModeratorFactory(), client)  # signed in, second factor passed

    response = client.get(url)

    assert response.status_code == 200
    _assert_strict(response)


@pytest.mark.django_db
def test_public_pages_and_the_api_docs_have_the_csp_and_no_inline_script(client):
    for url in (
        reverse("login"),
        reverse("signup"),
        reverse("privacy-notice"),
        "/admin/login/",
        "/api/docs/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_strict(response)
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert "<style" not in html and " style=" not in html, url

    docs = client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', docs)
    assert script, docs
    init = client.get(script.group(1).replace("&amp;", "&"))
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in init.content.decode()
    assert "cdn.jsdelivr.net" not in docs  # Swagger UI from our own static files


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_of_ours_needs_an_inline_script_or_style():
    templates = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    assert len(templates) > 10
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in templates
        if ".venv" not in path.parts
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert found == []


def test_the_swagger_ui_files_are_served_from_our_static_files():
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("css/swagger.css") and finders.find("js/listing_create.js")
    assert settings.SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] == "SIDECAR"
