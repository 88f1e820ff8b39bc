"""The beat sweep that expires consent windows, and the reminder before expiry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from accounts import services
from accounts.models import ConsentEvent, ConsentGrant
from accounts.selectors import consent_is_valid
from accounts.taxonomy import DataCategory, Purpose
from tests.conftest import receipt_for
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db(transaction=True)

PAIRS = [(c, p) for c in DataCategory.values if c != DataCategory.LIFE_EVENTS for p in Purpose.values]


def make_grants(sellers: int, per_seller: int, *, days_ago: int) -> list[int]:
    """Grants of 30 days whose window started `days_ago` days ago (due when days_ago > 30)."""
    ids = []
    for _ in range(sellers):
        seller = SellerFactory()
        for category, purpose in PAIRS[:per_seller]:
            ids.append(
                services.consent_grant(seller=seller, category=category, purpose=purpose, window_days=30).pk
            )
    shift = timedelta(days=days_ago)
    ConsentGrant.objects.filter(pk__in=ids).update(
        granted_at=timezone.now() - shift, expires_at=timezone.now() - shift + timedelta(days=30)
    )
    return ids


def test_sweep_expires_due_grants_once_with_a_receipt_each():
    due = make_grants(3, 4, days_ago=31)
    not_due = make_grants(1, 4, days_ago=29)

    assert services.consent_expire_due(batch_size=5) == len(due)
    assert services.consent_expire_due(batch_size=5) == 0  # idempotent

    assert set(ConsentGrant.objects.filter(status="expired").values_list("pk", flat=True)) == set(due)
    assert set(ConsentGrant.objects.filter(status="active").values_list("pk", flat=True)) == set(not_due)
    events = ConsentEvent.objects.filter(kind="expired")
    assert sorted(events.values_list("grant_id", flat=True)) == sorted(due)
    grant = ConsentGrant.objects.select_related("seller").get(pk=due[0])
    assert grant.ended_at == grant.expires_at
    assert not consent_is_valid(grant.seller, grant.category, grant.purpose)
    receipt = events.get(grant=grant).full_receipt
    expected = receipt_for(
        kind="expired",
        category=grant.category,
        purpose=grant.purpose,
        subject_pseudonym=grant.seller.pseudonym,
        grant_id=grant.pk,
        at=grant.expires_at,
        window_start=grant.granted_at,
        window_end=grant.expires_at,
    )
    assert set(receipt) == set(expected)
    for same in (
        "services",
        "piiControllers",
        "collectionMethod",
        "piiPrincipalId",
        "grantId",
        "consentTimestamp",
    ):
        assert receipt[same] == expected[same], same
    assert receipt["consentReceiptID"] == str(events.get(grant=grant).receipt_id)


def test_two_concurrent_sweeps_expire_each_grant_exactly_once():
    due = make_grants(6, 30, days_ago=40)  # 180 due grants
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            counts.append(services.consent_expire_due(batch_size=7))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sum(counts) == len(due)
    assert ConsentGrant.objects.filter(status="expired").count() == len(due)
    per_grant = ConsentEvent.objects.filter(kind="expired").values("grant").annotate(n=Count("id"))
    assert len(per_grant) == len(due) and {row["n"] for row in per_grant} == {1}


def test_sweep_skips_a_grant_being_revoked_and_the_revocation_wins(seller):
    """A grant locked by a revocation is skipped (SKIP LOCKED), not expired on top of it."""
    from django.db import transaction

    grant = services.consent_grant(
        seller=seller, category=DataCategory.DEVICE, purpose=Purpose.AD_MEASUREMENT, window_days=30
    )
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - timedelta(days=29), expires_at=grant.expires_at - timedelta(days=29)
    )
    with transaction.atomic():
        ConsentGrant.objects.select_for_update().get(pk=grant.pk)
        result: list[int] = []
        thread = threading.Thread(
            target=lambda: (
                result.append(services.consent_expire_due(now=timezone.now() + timedelta(days=2))),
                connection.close(),
            )
        )
        thread.start()
        thread.join()
    assert result == [0]


def test_reminder_emails_each_seller_once_before_expiry(settings, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # only the e-mail task: the sweep itself is called directly
    from config.celery_app import app

    app.conf.task_always_eager = True
    try:
        soon = make_grants(2, 3, days_ago=25)  # ends in 5 days (reminder window: 7 days)
        make_grants(1, 2, days_ago=10)  # ends in 20 days: no reminder
        with django_capture_on_commit_callbacks(execute=True):
            assert services.consent_remind_expiring() == len(soon)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.consent_remind_expiring() == 0
    finally:
        app.conf.task_always_eager = False
    assert len(mail.outbox) == 2
    assert "consents end soon" in mail.outbox[0].subject
    assert "/consents/" in mail.outbox[0].body
