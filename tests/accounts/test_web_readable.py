"""Readable everywhere: the seller pages show labels, not codes; money and dates through the
locale; French agreement; and every string of the code translated in the French catalogue."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import formats, timezone, translation

from accounts import services
from accounts.models import User
from listings import services as listing_services
from tests.accounts.test_export import notify_deletion, pay_out, sell
from tests.factories import PayingOrganisationFactory
from tests.listings.conftest import make_seller

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
NBSP = "\N{NO-BREAK SPACE}"


class _MainText(HTMLParser):
    """The text a person reads in <main>: no attributes, no markup."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main" or self.depth:
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def main_text(response) -> str:
    parser = _MainText()
    parser.feed(response.content.decode())
    return re.sub(r"[ \t\r\n]+", " ", " ".join(parser.parts)).strip()  # keeps no-break spaces


def get(client, seller, name: str, language: str) -> str:
    client.force_login(seller)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(reverse(name))
    assert response.status_code == 200
    return main_text(response)


@pytest.fixture
def trader(db):
    """A seller with a profile, consents, a life event, a sale read twice, a deletion notice and a payout."""
    seller = make_seller()  # Île-de-France, female, Android, Orange, travel, podcasts
    User.objects.filter(pk=seller.pk).update(email_verified_at=timezone.now(), preferred_language="en")
    seller.refresh_from_db()
    services.life_event_set(seller=seller, kind="new_job", details="Infirmière à Lyon")
    buyer = PayingOrganisationFactory(legal_name="Régie Exemple SAS", country="FR")
    line = sell(seller, buyer, price=294, reads=2)
    notify_deletion(seller, buyer)
    pay_out(seller, 235)
    return seller, line


# ---------------------------------------------------------------------------------------------
# My data
# ---------------------------------------------------------------------------------------------

MY_DATA = {
    "fr": {
        "present": [
            "Île-de-France",
            "Femme",
            "Android",
            "Voyages",
            "Podcasts",
            "Nouvel emploi",
            "Publicité ciblée",
            "Démographie (tranche d’âge, genre, date de naissance)",
            "Langue Anglais",  # the seller's language, named in French
            f"2,94{NBSP}€",
            f"2,35{NBSP}€",
            "Oui",
            "France",
            "Prix fixe (achat immédiat)",
            "Avis de suppression envoyés aux acheteurs",
            "Confirmé",  # an avis (masculine), as on the sales page
            "Vente n° ",  # the ledger reference trade:<id>
        ],
        "absent": [
            r"\bTrue\b",
            r"\bFalse\b",
            r"\bYes\b",
            r"\bEnglish\b",
            r"\bEUR\b",
            r"\(FR\)",
            r"\bFR\b",
            "trade:",
        ],
    },
    "en": {
        "present": [
            "Île-de-France",
            "Female",
            "Travel",
            "New job",
            "Targeted advertising",
            "Language English",
            "€2.94",
            "€2.35",
            "Yes",
            "France",
            "Fixed price (buy now)",
            "Sale no. ",
        ],
        "absent": [r"\bTrue\b", r"\bFalse\b", r"\bOui\b", r"\bEUR\b", r"\bFR\b", "trade:"],
    },
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_my_data_reads_as_labels_local_dates_and_money(client, trader, language):
    seller, line = trader

    text = get(client, seller, "seller-my-data", language)

    for expected in MY_DATA[language]["present"]:
        assert expected in text, expected
    for pattern in MY_DATA[language]["absent"]:
        assert not re.search(pattern, text), pattern
    # no field name, code or raw value as stored
    assert not re.search(r"\b[a-z]+(?:_[a-z]+)+\b", text), re.search(r"\b[a-z]+(?:_[a-z]+)+\b", text)
    for code in ("FR-IDF", "female", "android", "orange", "new_job", "targeted_advertising", "fixed"):
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text), code
    # timestamps through the locale, to the minute: never ISO, never microseconds
    assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text)
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", text)
    with translation.override(language):
        sold_on = formats.date_format(timezone.localtime(line.trade.created_at), "DATETIME_FORMAT")
        born = formats.date_format(date(1990, 1, 1), "DATE_FORMAT")  # make_seller's birth date
    assert sold_on in text
    assert born in text


def test_my_data_download_keeps_codes_and_iso_timestamps(client, trader):
    seller, line = trader
    client.force_login(seller)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "fr"

    data = client.get(reverse("seller-my-data-export")).json()

    assert data["profile"]["region"] == "FR-IDF"
    assert data["account"]["preferred_language"] == "en"
    assert data["recipients"][0]["organisation_country"] == "FR"
    assert data["sales"][0]["created_at"] == line.trade.created_at.isoformat()
    assert data["payout_account"]["payouts_enabled"] is True


# ---------------------------------------------------------------------------------------------
# Other pages, in French: labels, agreement, money
# ---------------------------------------------------------------------------------------------


def test_listings_in_french_agree_with_annonce_and_show_labels(client, db, settings):
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    seller = make_seller(verified=True)
    listing_services.listing_create(
        seller=seller,
        categories=["demographics"],
        purposes=["targeted_advertising"],
        licence_days=90,
        pricing_mode="fixed",
        floor_price_cents=294,
    )

    text = get(client, seller, "seller-listings", "fr")

    # an annonce is feminine: "Active validée automatiquement", never "Actif validée"
    assert "Active validée automatiquement" in text
    assert "Actif" not in text
    assert f"2,94{NBSP}€" in text
    assert "Prix fixe (achat immédiat)" in text
    assert "90 jours" in text
    for code in ("active", "fixed", "targeted_advertising", "demographics", "EUR", "auto-approved"):
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text), code


def test_dashboard_in_french_agrees_with_consentement_and_annonce(client, trader):
    seller, _line = trader

    text = get(client, seller, "seller-dashboard", "fr")

    assert re.search(r"Le prochain prend fin le \d{1,2} \w+ \d{4}, dans 90 jours\.", text)
    assert "Active 1" in text  # listings by state: the listing sold (rows written as is) is active
    assert "Actif" not in text
    assert f"2,35{NBSP}€" in text


def test_sales_in_french_show_labels_and_the_country_name(client, trader):
    seller, _line = trader

    text = get(client, seller, "seller-sales", "fr")

    assert "Régie Exemple SAS (France)" in text
    assert "Publicité ciblée" in text
    assert "Démographie (tranche d’âge, genre, date de naissance)" in text
    assert "1 licence" in text and "1 licences" not in text
    for code in ("targeted_advertising", "demographics", "acknowledged", "(FR)"):
        assert code not in text, code


def test_earnings_in_both_languages_use_the_locale_for_money(client, trader):
    seller, _line = trader

    french = get(client, seller, "seller-payouts", "fr")
    english = get(client, seller, "seller-payouts", "en")

    assert f"2,35{NBSP}€" in french and "EUR" not in french and "2.35" not in french
    assert "€2.35" in english and "EUR" not in english


# ---------------------------------------------------------------------------------------------
# The French catalogue
# ---------------------------------------------------------------------------------------------


def test_french_catalogue_has_no_empty_or_fuzzy_translation():
    catalogue = polib.pofile(str(CATALOGUE))

    empty = [e.msgid for e in catalogue.untranslated_entries() if not e.obsolete]
    fuzzy = [e.msgid for e in catalogue.fuzzy_entries()]
    assert not empty, f"untranslated: {empty}"
    assert not fuzzy, f"fuzzy: {fuzzy}"
    for entry in catalogue.translated_entries():
        if entry.msgid_plural:
            assert all(entry.msgstr_plural.values()), entry.msgid


def test_every_string_of_the_code_is_in_the_french_catalogue(tmp_path):
    """makemessages on a copy of the sources: a string marked for translation but missing from
    the catalogue comes out empty (new) or fuzzy (changed)."""
    if not shutil.which("xgettext"):
        pytest.skip("gettext tools are not installed")
    for name in ("accounts", "listings", "marketplace", "payments", "core", "config", "templates", "locale"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")

    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-obsolete", "--verbosity", "0"],
        cwd=tmp_path,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        timeout=120,
    )

    catalogue = polib.pofile(str(tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po"))
    missing = [
        f"{e.msgctxt + ' | ' if e.msgctxt else ''}{e.msgid} ({e.occurrences[0][0] if e.occurrences else '?'})"
        for e in catalogue.untranslated_entries() + catalogue.fuzzy_entries()
    ]
    assert not missing, "not translated in locale/fr/LC_MESSAGES/django.po:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("value", "english", "french"),
    [
        ("0.5", "0.5 licences sold", "0,5 licence vendue"),
        ("1", "1 licence sold", "1 licence vendue"),
        ("1.5", "1.5 licences sold", "1,5 licence vendue"),
        ("2", "2 licences sold", "2 licences vendues"),
        ("2.5", "2.5 licences sold", "2,5 licences vendues"),
    ],
)
def test_a_fraction_of_licences_takes_each_language_s_plural(value, english, french):
    from decimal import Decimal

    from django.utils.translation import ngettext

    from listings.worth_views import plural_count

    for language, expected in (("en", english), ("fr", french)):
        with translation.override(language):
            count = Decimal(value)
            text = ngettext("%(count)s licence sold", "%(count)s licences sold", plural_count(count)) % {
                "count": formats.number_format(count)
            }
        assert text == expected, language


def test_privacy_notice_in_french_names_the_country_and_the_contact_role(client, db):
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "fr"

    text = main_text(client.get(reverse("privacy-notice")))

    assert "Île-de-France, France" in text
    assert "Délégué à la protection des données" in text
    assert "Data Protection Officer" not in text


def test_french_puts_a_space_before_a_colon(client, trader):
    seller, _line = trader
    client.force_login(seller)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "fr"

    html = client.get(reverse("seller-dashboard")).content.decode()

    assert f'E-mail vérifié<span class="visually-hidden">{NBSP}: oui</span>' in html
    assert 'visually-hidden">: ' not in html
