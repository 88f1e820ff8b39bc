"""Consent grants: validity at the window's edges and at the revocation instant; bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from accounts import services
from accounts.models import ConsentEvent, ConsentGrant
from accounts.selectors import consent_is_valid
from accounts.taxonomy import DataCategory, Purpose
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = DataCategory.DEMOGRAPHICS
ADS = Purpose.TARGETED_ADVERTISING
US = timedelta(microseconds=1)


def test_valid_exactly_inside_the_window(seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)

    assert grant.expires_at - grant.granted_at == timedelta(days=30)
    assert not consent_is_valid(seller, DEMO, ADS, grant.granted_at - US)
    assert consent_is_valid(seller, DEMO, ADS, grant.granted_at)
    assert consent_is_valid(seller, DEMO, ADS, grant.expires_at - US)
    assert not consent_is_valid(seller, DEMO, ADS, grant.expires_at)
    # another purpose or category is not covered
    assert not consent_is_valid(seller, DEMO, Purpose.MARKET_RESEARCH, grant.granted_at)
    assert not consent_is_valid(seller, DataCategory.LOCATION, ADS, grant.granted_at)


def test_revocation_takes_effect_at_its_instant(seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=90)

    revoked = services.consent_revoke(seller=seller, grant_id=grant.pk)

    assert revoked.status == ConsentGrant.Status.REVOKED
    assert consent_is_valid(seller, DEMO, ADS, revoked.ended_at - US)
    assert not consent_is_valid(seller, DEMO, ADS, revoked.ended_at)
    assert not consent_is_valid(seller, DEMO, ADS)  # now
    kinds = list(ConsentEvent.objects.filter(grant=grant).values_list("kind", flat=True))
    assert kinds == ["granted", "revoked"]


def test_validity_does_not_wait_for_the_expiry_sweep(seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - timedelta(days=31), expires_at=grant.expires_at - timedelta(days=31)
    )
    grant.refresh_from_db()

    assert grant.status == ConsentGrant.Status.ACTIVE  # the sweep has not run yet
    assert not consent_is_valid(seller, DEMO, ADS)


def test_renewal_starts_a_new_window_and_ends_the_old_one(seller):
    old = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)

    new = services.consent_renew(seller=seller, grant_id=old.pk, window_days=365)

    old.refresh_from_db()
    assert old.status == ConsentGrant.Status.EXPIRED and old.ended_at == new.granted_at
    assert new.renewed_from_id == old.pk and new.window_days == 365
    assert consent_is_valid(seller, DEMO, ADS, new.granted_at + timedelta(days=300))
    assert ConsentEvent.objects.get(grant=new).kind == "renewed"
    # revoking the renewal ends consent entirely: the old grant no longer counts
    services.consent_revoke(seller=seller, grant_id=new.pk)
    assert not consent_is_valid(seller, DEMO, ADS)


def test_receipt_has_kantara_and_iso_27560_fields(seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=180)

    receipt = ConsentEvent.objects.get(grant=grant).full_receipt

    for field in (
        "version",
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ):
        assert field in receipt, field
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["purposeCode"] == ADS and purpose["tcfPurposeId"] == 4
    assert purpose["piiCategoryCode"] == [DEMO]
    assert purpose["thirdPartyDisclosure"] is True and purpose["termination"]
    assert receipt["piiPrincipalId"] == str(seller.pseudonym)
    assert seller.email not in str(receipt)


def test_sensitive_category_needs_its_own_explicit_grant(seller):
    with pytest.raises(InvalidInput) as exc:
        services.consent_grant(seller=seller, category=DataCategory.LIFE_EVENTS, purpose=ADS, window_days=30)
    assert exc.value.code == "explicit_consent_required"
    assert not ConsentGrant.objects.exists()

    grant = services.consent_grant(
        seller=seller, category=DataCategory.LIFE_EVENTS, purpose=ADS, window_days=30, explicit_sensitive=True
    )
    receipt = ConsentEvent.objects.get(grant=grant).full_receipt
    assert receipt["sensitive"] is True and receipt["spiCat"]


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"category": "shoe_size"}, InvalidInput, "category_unknown"),
        ({"purpose": "resale"}, InvalidInput, "purpose_unknown"),
        ({"window_days": 7}, InvalidInput, "window_invalid"),
        ({"window_days": 366}, InvalidInput, "window_invalid"),
    ],
)
def test_bad_grant_input_changes_nothing(seller, kwargs, error, code):
    with pytest.raises(error) as exc:
        services.consent_grant(
            seller=seller, **{"category": DEMO, "purpose": ADS, "window_days": 30, **kwargs}
        )
    assert exc.value.code == code
    assert not ConsentGrant.objects.exists() and not ConsentEvent.objects.exists()


def test_granting_twice_is_a_conflict(seller):
    services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    with pytest.raises(Conflict) as exc:
        services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=90)
    assert exc.value.code == "consent_already_active"
    assert ConsentGrant.objects.count() == 1 and ConsentEvent.objects.count() == 1


def test_revoking_twice_and_acting_on_expired_grants_are_conflicts(seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    services.consent_revoke(seller=seller, grant_id=grant.pk)
    with pytest.raises(Conflict) as exc:
        services.consent_revoke(seller=seller, grant_id=grant.pk)
    assert exc.value.code == "consent_already_revoked"

    other = services.consent_grant(
        seller=seller, category=DEMO, purpose=Purpose.MARKET_RESEARCH, window_days=30
    )
    ConsentGrant.objects.filter(pk=other.pk).update(
        granted_at=other.granted_at - timedelta(days=40), expires_at=other.expires_at - timedelta(days=40)
    )
    events_before = ConsentEvent.objects.count()
    for action in (
        lambda: services.consent_revoke(seller=seller, grant_id=other.pk),
        lambda: services.consent_renew(seller=seller, grant_id=other.pk, window_days=30),
    ):
        with pytest.raises(Conflict) as exc:
            action()
        assert exc.value.code == "consent_expired"
    assert ConsentEvent.objects.count() == events_before
    assert ConsentGrant.objects.get(pk=other.pk).status == ConsentGrant.Status.ACTIVE


def test_a_seller_cannot_touch_another_sellers_grant(seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    intruder = SellerFactory()
    with pytest.raises(NotFound):
        services.consent_revoke(seller=intruder, grant_id=grant.pk)
    assert consent_is_valid(seller, DEMO, ADS)


def test_only_sellers_grant_consent(moderator):
    with pytest.raises(Forbidden):
        services.consent_grant(seller=moderator, category=DEMO, purpose=ADS, window_days=30)


def test_the_database_refuses_a_second_active_grant_and_bad_windows(seller):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    now = timezone.now()
    for fields in (
        {"purpose": ADS, "window_days": 30},  # a second active grant for the same pair
        {"purpose": Purpose.MARKET_RESEARCH, "window_days": 45},  # a window outside the menu
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            ConsentGrant.objects.create(
                seller=seller, category=DEMO, granted_at=now, expires_at=now + timedelta(days=30), **fields
            )
    assert connection.vendor == "postgresql"
