"""Consent events are append-only at the database: UPDATE and DELETE fail, through raw SQL too."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from accounts import services
from accounts.models import ConsentEvent
from accounts.taxonomy import DataCategory, Purpose

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def event(seller):
    grant = services.consent_grant(
        seller=seller, category=DataCategory.INTERESTS, purpose=Purpose.MARKET_RESEARCH, window_days=30
    )
    return ConsentEvent.objects.get(grant=grant)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE accounts_consentevent SET kind = 'revoked' WHERE id = %s",
        "UPDATE accounts_consentevent SET receipt = '{}'::jsonb WHERE id = %s",
        "DELETE FROM accounts_consentevent WHERE id = %s",
    ],
)
def test_raw_sql_update_and_delete_fail(event, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    event.refresh_from_db()
    assert event.kind == "granted" and event.receipt["consentReceiptID"] == str(event.receipt_id)


def test_orm_update_and_delete_fail(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(kind="expired")
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        event.kind = "expired"
        event.save()
    assert ConsentEvent.objects.get(pk=event.pk).kind == "granted"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE accounts_receipttemplate SET body = '{}'::jsonb WHERE id = %s",
        "DELETE FROM accounts_receipttemplate WHERE id = %s",
    ],
)
def test_receipt_templates_are_append_only_too(event, statement):
    """An issued receipt is its template plus its own fields: neither part can change."""
    issued = event.full_receipt
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, [event.template_id])
    assert ConsentEvent.objects.select_related("template").get(pk=event.pk).full_receipt == issued
    assert issued["services"][0]["purposes"][0]["purposeCode"] == Purpose.MARKET_RESEARCH
