"""Precise values are encrypted at rest; export is complete; erasure leaves nothing readable."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.apps import apps
from django.db import connection

from accounts import crypto, selectors, services
from accounts.models import ConsentEvent, ConsentGrant, LifeEvent, SellerDataKey, SellerProfile, User
from accounts.taxonomy import DataCategory, Purpose
from core.errors import Conflict, InvalidInput

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "CANARY7f3a"


def fill_profile(seller, *, postcode="75011", phone="+33612345678", details=f"loan {CANARY}"):
    services.seller_profile_update(
        seller=seller,
        gender="female",
        region="FR-IDF",
        mobile_os="android",
        mobile_operator="free",
        interests=["travel", "cooking"],
        affinities=["podcasts"],
        birth_date=date(1990, 5, 17),
        postcode=postcode,
        phone=phone,
        today=date(2026, 11, 29),
    )
    services.life_event_set(seller=seller, kind="new_loan", details=details)


def database_dump() -> str:
    """Every row of every table of the project, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # our own table names
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def test_canary_in_precise_fields_never_reaches_the_raw_rows(seller):
    fill_profile(seller, details=f"loan {CANARY}")
    services.life_event_set(seller=seller, kind="expecting_child", details=f"due in May {CANARY}")

    dump = database_dump()
    assert CANARY not in dump
    assert "75011" not in dump and "612345678" not in dump and "1990-05-17" not in dump
    # and it reads back through the service
    assert services.seller_precise_values(seller=seller) == {
        "birth_date": "1990-05-17",
        "postcode": "75011",
        "phone": "+33612345678",
    }
    profile = SellerProfile.objects.get(seller=seller)
    assert profile.age_band == "35-44" and profile.interests == ["travel", "cooking"]


def test_erasure_makes_the_canary_unreadable_everywhere(seller):
    fill_profile(seller)
    services.consent_grant(
        seller=seller, category=DataCategory.LOCATION, purpose=Purpose.MARKET_RESEARCH, window_days=30
    )
    profile_before = SellerProfile.objects.get(seller=seller)
    ciphertext = profile_before.postcode_encrypted
    wrapped = SellerDataKey.objects.get(seller=seller).wrapped_key
    email = seller.email

    services.seller_erase(seller=seller)

    dump = database_dump()
    assert CANARY not in dump and email not in dump and ciphertext not in dump and wrapped not in dump
    # even a copy of the old ciphertext (a backup) cannot be read without the destroyed key
    with pytest.raises(crypto.DataKeyDestroyed):
        crypto.data_fernet(SellerDataKey.objects.get(seller=seller).wrapped_key)
    user = User.objects.get(pk=seller.pk)
    assert user.erased_at and not user.is_active and not user.has_usable_password()
    assert user.email.startswith("erased-") and user.full_name == ""
    assert not LifeEvent.objects.filter(seller=user).exists()
    # consent history stays, under the pseudonym, and every grant was revoked
    assert ConsentGrant.objects.get(seller=user).status == "revoked"
    kinds = list(ConsentEvent.objects.filter(seller=user).values_list("kind", flat=True))
    assert kinds == ["granted", "revoked"]
    receipt = ConsentEvent.objects.filter(seller=user).last().full_receipt
    assert receipt["piiPrincipalId"] == str(user.pseudonym) and "erasure" in receipt["collectionMethod"]
    # nothing left to export: a clear refusal (410), not an export of what survives
    with pytest.raises(selectors.SellerErased):
        selectors.seller_export(seller=user)
    assert services.seller_precise_values(seller=user) == {}
    with pytest.raises(Conflict):
        services.seller_erase(seller=user)


def test_export_contains_every_stored_field(seller):
    fill_profile(seller)
    grant = services.consent_grant(
        seller=seller, category=DataCategory.DEVICE, purpose=Purpose.AD_MEASUREMENT, window_days=90
    )
    services.consent_renew(seller=seller, grant_id=grant.pk, window_days=30)

    export = json.loads(json.dumps(selectors.seller_export(seller=seller)))

    def exported(section: str, model, *, skip: set[str], rename: dict[str, str] | None = None) -> None:
        rows = export[section] if isinstance(export[section], list) else [export[section]]
        for field in model._meta.concrete_fields:
            name = (rename or {}).get(field.name, field.name)
            if field.name in skip:
                continue
            name = name.removesuffix("_encrypted")
            for row in rows:
                assert name in row, f"{section}.{name}"

    # organisation and organisation_role are a buyer member's, always empty for a seller;
    # suspended_by names the moderator (staff), not the seller: the reason and date are theirs
    exported(
        "account",
        User,
        skip={"is_staff", "is_superuser", "organisation", "organisation_role", "suspended_by"},
    )
    exported(
        "profile",
        SellerProfile,
        skip={"seller"},
        rename={
            "interests_mask": "interests",
            "affinities_mask": "affinities",
            "audience_optin_mask": "audience_optin",
            "sellable_mask": "sellable",
        },
    )
    exported("life_events", LifeEvent, skip={"id", "seller"})
    exported(
        "consent_grants", ConsentGrant, skip={"seller", "pair_bit"}, rename={"renewed_from": "renewed_from"}
    )  # pair_bit: category × purpose, computed
    exported("consent_events", ConsentEvent, skip={"id", "seller", "template"})  # template: in receipt
    assert (
        export["profile"]["postcode"] == "75011" and export["life_events"][0]["details"] == f"loan {CANARY}"
    )
    assert len(export["consent_events"]) == 2 and export["consent_events"][0]["receipt"]["consentReceiptID"]
    assert (
        export["consent_events"][0]["receipt"]["services"][0]["purposes"][0]["purposeCode"]
        == "ad_measurement"
    )
    assert "pbkdf2" not in json.dumps(export) and "md5$" not in json.dumps(export)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"region": "FR-XXX"}, "value_unknown", "region"),
        ({"gender": "robot"}, "value_unknown", "gender"),
        ({"interests": ["travel", "knitting-with-cats"]}, "value_unknown", "interests"),
        ({"birth_date": date(2012, 1, 1)}, "under_age", "birth_date"),
        ({"birth_date": date(2030, 1, 1)}, "birth_date_invalid", "birth_date"),
        ({"postcode": "7501"}, "postcode_invalid", "postcode"),
        ({"phone": "call me"}, "phone_invalid", "phone"),
    ],
)
def test_invalid_profile_values_change_nothing(seller, fields, code, field):
    fill_profile(seller)
    before = SellerProfile.objects.filter(seller=seller).values().get()

    with pytest.raises(InvalidInput) as exc:
        services.seller_profile_update(seller=seller, mobile_os="ios", **fields)

    assert (exc.value.code, exc.value.field) == (code, field)
    assert SellerProfile.objects.filter(seller=seller).values().get() == before


def test_master_key_rotation_rewraps_and_keeps_values_readable(seller, settings):
    from cryptography.fernet import Fernet

    fill_profile(seller)
    old_wrapped = SellerDataKey.objects.get(seller=seller).wrapped_key
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]

    assert services.encryption_keys_rotate() == 1

    assert SellerDataKey.objects.get(seller=seller).wrapped_key != old_wrapped
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]  # the old master key retired
    assert services.seller_precise_values(seller=seller)["postcode"] == "75011"


def test_phone_and_email_verification_make_the_badge(seller):
    fill_profile(seller)
    assert selectors.seller_badges(seller=seller)["verified_seller"] is False

    services.email_verify(token=services.email_verification_token(seller))
    with pytest.raises(InvalidInput):
        services.phone_verify(seller=seller, code="000000")
    services.phone_verify(seller=seller, code=services.phone_verification_code(seller=seller))
    seller.refresh_from_db()

    assert selectors.seller_badges(seller=seller) == {
        "email_verified": True,
        "phone_verified": True,
        "profile_complete": True,
        "verified_seller": True,
    }
    services.seller_profile_update(seller=seller, phone="+33700000000")  # a new number is unverified
    seller.refresh_from_db()
    assert seller.phone_verified_at is None
