"""The consent sweeps run on a real Celery worker process, through Redis, on PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services, tasks
from accounts.models import ConsentEvent, ConsentGrant
from accounts.taxonomy import DataCategory, Purpose
from tests.factories import SellerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_expires_due_grants(celery_worker_process):
    seller = SellerFactory()
    grant = services.consent_grant(
        seller=seller, category=DataCategory.TELECOM, purpose=Purpose.MARKET_RESEARCH, window_days=30
    )
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=timezone.now() - timedelta(days=31), expires_at=timezone.now() - timedelta(days=1)
    )
    celery_worker_process("consent")

    tasks.consent_expire_due.delay()

    assert wait_for(lambda: ConsentEvent.objects.filter(grant=grant, kind="expired").exists())
    grant.refresh_from_db()
    assert grant.status == "expired"
