"""Consent receipts conform to the Kantara Consent Receipt Specification v1.1 (and our JSON Schema),
in the seller's language, and the SQL expiry sweep issues exactly the receipts Python would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from jsonschema import Draft202012Validator

from accounts import receipts, services
from accounts.models import ConsentEvent, ConsentGrant, ReceiptTemplate, User
from accounts.taxonomy import SENSITIVE_CATEGORIES, DataCategory, Purpose
from tests.conftest import _event_fields_validator, _receipt_validator, receipt_for
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db

ADS = Purpose.TARGETED_ADVERTISING
DEMO = DataCategory.DEMOGRAPHICS
LIFE = DataCategory.LIFE_EVENTS


def grant(seller: User, category: str = DEMO, purpose: str = ADS) -> ConsentGrant:
    return services.consent_grant(
        seller=seller,
        category=category,
        purpose=purpose,
        window_days=30,
        explicit_sensitive=category in SENSITIVE_CATEGORIES,
    )


def receipt_of(grant_: ConsentGrant, kind: str = "granted") -> dict:
    return ConsentEvent.objects.select_related("template").get(grant=grant_, kind=kind).full_receipt


def test_a_receipt_has_the_kantara_v1_1_shape_and_vocabularies():
    seller = SellerFactory()

    receipt = receipt_of(grant(seller, DataCategory.TELECOM, Purpose.PERSONALISED_CONTENT))

    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["language"] == "en"
    assert receipt["policyUrl"] == "http://127.0.0.1:8000/privacy/"
    [controller] = receipt["piiControllers"]
    assert controller["address"] == {
        "streetAddress": "1 rue de la Paix",
        "postalCode": "75002",
        "addressLocality": "Paris",
        "addressRegion": "Île-de-France",
        "addressCountry": "FR",
    }
    assert controller["piiControllerUrl"] == "http://127.0.0.1:8000/" and controller["onBehalf"] is False
    [service] = receipt["services"]
    [purpose] = service["purposes"]
    assert purpose["purposeCategory"] == ["10 - 3rd Party Sharing for Core Function"]
    assert purpose["piiCategory"] == ["2 - Contact", "5 - Network/Service"]
    # our own codes, in extension fields
    assert purpose["purposeCode"] == "personalised_content" and purpose["tcfPurposeId"] == 6
    assert purpose["piiCategoryCode"] == ["telecom"]
    assert purpose["piiCategoryLabel"] == ["Telecom (mobile operator, phone number)"]
    assert receipt["sensitive"] is False and receipt["spiCat"] == []
    assert receipt["piiPrincipalId"] == str(seller.pseudonym) and seller.email not in str(receipt)
    assert not list(_receipt_validator().iter_errors(receipt))


def test_a_sensitive_category_names_its_sensitive_pii_categories():
    receipt = receipt_of(grant(SellerFactory(), LIFE))

    assert receipt["sensitive"] is True
    assert receipt["spiCat"] == ["6 - Health", "7 - Financial"]
    assert set(receipt["spiCat"]) <= set(receipt["services"][0]["purposes"][0]["piiCategory"])


def test_the_receipt_is_in_the_sellers_language_with_one_template_per_language():
    english, french = SellerFactory(), SellerFactory(language="fr")
    french_too = SellerFactory(language="fr")

    en, fr = receipt_of(grant(english)), receipt_of(grant(french))
    fr_too = grant(french_too)

    assert en["language"] == "en" and fr["language"] == "fr"
    fr_purpose = fr["services"][0]["purposes"][0]
    assert fr_purpose["purpose"] == "Publicité ciblée"
    assert fr["collectionMethod"] == "formulaire web : consentement explicite de la personne concernée"
    # the machine-readable parts do not change with the language
    en_purpose = en["services"][0]["purposes"][0]
    for field in ("purposeCategory", "piiCategory", "purposeCode", "piiCategoryCode", "tcfPurposeId"):
        assert fr_purpose[field] == en_purpose[field], field
    assert fr["policyUrl"] == en["policyUrl"]
    templates = {
        seller.pk: ConsentEvent.objects.get(seller=seller).template_id
        for seller in (english, french, french_too)
    }
    assert templates[french.pk] == templates[french_too.pk] != templates[english.pk]
    assert ConsentEvent.objects.get(grant=fr_too).full_receipt["language"] == "fr"


def test_a_language_the_site_does_not_offer_falls_back_to_the_default():
    seller = SellerFactory()
    User.objects.filter(pk=seller.pk).update(preferred_language="de")
    seller.refresh_from_db()

    assert receipt_of(grant(seller))["language"] == settings.LANGUAGE_CODE


def test_policy_url_is_the_public_privacy_notice(client, settings):
    settings.SITE_URL = "https://courtier.example.com"

    receipt = receipts.receipt_template("granted", DEMO, ADS)

    assert receipt["policyUrl"] == "https://courtier.example.com/privacy/"
    response = client.get("/privacy/")
    assert response.status_code == 200


def test_old_receipts_still_read_as_issued(consent_receipts_conform):
    """Receipts issued before v1.1 (address as text, our codes as categories) keep their template."""
    seller = SellerFactory()
    grant_ = grant(seller)
    old_body = {
        **receipts.receipt_template("granted", DEMO, ADS),
        "piiControllers": [{"piiController": "Courtier SAS", "address": "1 rue de la Paix, 75002 Paris"}],
        "policyUrl": "http://127.0.0.1:8000/privacy/",
    }
    old_body["services"][0]["purposes"][0]["purposeCategory"] = [ADS]
    old_template = ReceiptTemplate.objects.create(digest="0" * 64, body=old_body)
    fields = receipts.event_fields(
        subject_pseudonym=seller.pseudonym,
        grant_id=grant_.pk,
        at=grant_.granted_at,
        window_start=grant_.granted_at,
        window_end=grant_.expires_at,
    )
    old = ConsentEvent.objects.create(
        grant=grant_,
        seller=seller,
        kind="renewed",
        occurred_at=grant_.granted_at,
        receipt_id=fields["consentReceiptID"],
        template=old_template,
        receipt=fields,
    )
    whole = ConsentEvent.objects.create(  # before templates: the whole receipt in the event
        grant=grant_,
        seller=seller,
        kind="renewed",
        occurred_at=grant_.granted_at,
        receipt_id="6f1c1d4e-3a51-4d36-9d0e-5f8f6a0f0b01",
        receipt={"version": "KI-CR-v1.1.0", "piiControllers": [{"address": "somewhere"}]},
    )
    consent_receipts_conform.update({str(old.receipt_id), str(whole.receipt_id)})

    assert ConsentEvent.objects.get(pk=old.pk).full_receipt == {**old_body, **fields}
    assert ConsentEvent.objects.get(pk=whole.pk).full_receipt["piiControllers"] == [{"address": "somewhere"}]
    assert list(_receipt_validator().iter_errors(ConsentEvent.objects.get(pk=old.pk).full_receipt))


def test_the_schema_is_valid_2020_12_and_names_our_vocabularies():
    schema = receipts.receipt_schema()

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$defs"]["purposeCategory"]["enum"] == list(receipts.PURPOSE_CATEGORIES)
    assert schema["$defs"]["piiCategory"]["enum"] == list(receipts.PII_CATEGORIES)
    assert schema["properties"]["language"]["enum"] == receipts.receipt_languages()
    purpose = schema["$defs"]["purpose"]["properties"]
    assert purpose["purposeCode"]["enum"] == Purpose.values
    assert purpose["piiCategoryCode"]["items"]["enum"] == DataCategory.values
    for purpose_code in Purpose.values:
        assert set(receipts.PURPOSE_CATEGORY_OF[purpose_code]) <= set(receipts.PURPOSE_CATEGORIES)
    for category in DataCategory.values:
        assert set(receipts.PII_CATEGORY_OF[category]) <= set(receipts.PII_CATEGORIES)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (
            lambda r: r["piiControllers"][0].update(address="1 rue de la Paix, Paris"),
            "is not of type 'object'",
        ),
        (
            lambda r: r["services"][0]["purposes"][0].update(purposeCategory=["targeted_advertising"]),
            "is not one of",
        ),
        (lambda r: r.update(spiCat=[]), "should be non-empty"),
        (lambda r: r.update(policyUrl="/privacy/"), "does not match"),
        (lambda r: r.pop("language"), "'language' is a required property"),
    ],
)
def test_the_schema_refuses_what_the_specification_refuses(change, complaint):
    receipt = receipt_for(
        kind="granted",
        category=LIFE,
        purpose=ADS,
        subject_pseudonym="6f1c1d4e-3a51-4d36-9d0e-5f8f6a0f0b01",
        grant_id=1,
        at=timezone.now(),
        window_start=timezone.now(),
        window_end=timezone.now() + timedelta(days=30),
    )
    assert not list(_receipt_validator().iter_errors(receipt))

    change(receipt)

    assert complaint in " ".join(error.message for error in _receipt_validator().iter_errors(receipt))


def test_the_per_event_check_refuses_a_bad_or_unknown_event_field():
    """What tests/conftest.py checks of the events after the first of each shape."""
    fields = receipts.event_fields(
        subject_pseudonym="6f1c1d4e-3a51-4d36-9d0e-5f8f6a0f0b01",
        grant_id=1,
        at=timezone.now(),
        window_start=timezone.now(),
        window_end=timezone.now(),
    )
    validator = _event_fields_validator()

    assert not list(validator.iter_errors(fields))
    assert list(validator.iter_errors({**fields, "windowEnd": 1767600000}))
    assert list(validator.iter_errors({**fields, "consentReceiptID": "not-a-uuid"}))
    assert list(validator.iter_errors({**fields, "somethingElse": 1}))


# --- the expiry sweep's receipts ---------------------------------------------------------------

PAST = datetime(2026, 1, 5, 8, 30, 15, 120000, tzinfo=UTC)  # trailing zeros in the microseconds
WHOLE_SECOND = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)  # none at all


def due_grants(sellers: list[User]) -> list[ConsentGrant]:
    """Every category (life events included) for two purposes, per seller, all past their window."""
    grants = []
    for index, seller in enumerate(sellers):
        for category in DataCategory.values:
            for purpose in (ADS, Purpose.MARKET_RESEARCH):
                grants.append(grant(seller, category, purpose))
        start = PAST if index % 2 == 0 else WHOLE_SECOND
        ConsentGrant.objects.filter(seller=seller, status="active").update(
            granted_at=start, expires_at=start + timedelta(days=30)
        )
    return grants


def expired_receipts(grants: list[ConsentGrant]) -> dict[tuple, dict]:
    events = ConsentEvent.objects.select_related("template", "grant").filter(grant__in=grants, kind="expired")
    return {(e.seller_id, e.grant.category, e.grant.purpose): e.full_receipt for e in events}


def test_the_expiry_sweep_issues_each_event_the_receipt_of_the_one_builder():
    """On PostgreSQL the sweep inserts its events with SQL (services.consent._expired_events_insert),
    elsewhere with the ORM (bulk_create of receipts.consent_events): both store, per event, the
    builder's template and exactly the builder's own fields. CI runs this file on both."""
    sellers = [SellerFactory(language="fr"), SellerFactory(), SellerFactory(language="fr")]
    User.objects.filter(pk=sellers[1].pk).update(preferred_language="de")  # falls back to the default
    now = timezone.now()
    by_sweep = due_grants(sellers)

    assert services.consent_expire_due(now=now) == len(by_sweep)

    swept = expired_receipts(by_sweep)
    assert len(swept) == len(sellers) * len(DataCategory.values) * 2
    # each receipt is exactly what the builder makes for that event
    for event in ConsentEvent.objects.select_related("template", "grant", "seller").filter(
        grant__in=by_sweep, kind="expired"
    ):
        language = receipts.receipt_language(event.seller.preferred_language)
        assert event.template_id == receipts.template_id(
            "expired", event.grant.category, event.grant.purpose, None, language
        )
        assert event.receipt == receipts.event_fields(
            subject_pseudonym=event.seller.pseudonym,
            grant_id=event.grant_id,
            at=event.grant.expires_at,
            window_start=event.grant.granted_at,
            window_end=event.grant.expires_at,
            receipt_id=event.receipt_id,
        )
        assert event.occurred_at == event.grant.expires_at
        assert event.full_receipt == receipt_for(
            kind="expired",
            category=event.grant.category,
            purpose=event.grant.purpose,
            language=receipts.receipt_language(event.seller.preferred_language),
            subject_pseudonym=event.seller.pseudonym,
            grant_id=event.grant_id,
            at=event.grant.expires_at,
            window_start=event.grant.granted_at,
            window_end=event.grant.expires_at,
            receipt_id=event.receipt_id,
        )
    languages = {receipt["language"] for receipt in swept.values()}
    assert languages == {"fr", "en"}
