"""Misuse of the admin is refused with a clear answer and changes nothing (issue 14): deleting an
organisation, a seller with history, a trade, a payment or a ledger row; editing a ledger entry or
the audit trail; an action without a reason; a moderator opening a seller's precise values."""

from __future__ import annotations

import pytest
from django.contrib import admin

from accounts.models import BuyerOrganisation, User
from core import audit
from core.models import AuditEntry
from payments import ledger
from payments.ledger import Line
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger_entry(seller) -> LedgerEntry:
    transaction, _created = ledger.ledger_post(
        kind=LedgerTransaction.Kind.SETTLEMENT,
        reference="misuse-test",
        idempotency_key="misuse-test",
        lines=[
            Line(ledger.ledger_account(LedgerAccount.Purpose.BUYER_CHARGES), 100),
            Line(ledger.ledger_account(LedgerAccount.Purpose.SELLER_PAYABLE, seller_id=seller.pk), -100),
        ],
    )
    return transaction.entries.order_by("pk").first()


def test_no_model_of_the_admin_can_be_deleted_by_a_moderator(moderator):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = moderator
    deletable = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_delete_permission(request)
    ]
    assert deletable == []
    assert "delete_selected" not in dict(admin.site.actions)


def test_deleting_an_organisation_or_a_seller_is_refused(moderator_client, organisation, seller):
    for url in (
        f"/admin/accounts/buyerorganisation/{organisation.pk}/delete/",
        f"/admin/accounts/user/{seller.pk}/delete/",
    ):
        assert moderator_client.post(url, {"post": "yes"}).status_code == 403
    assert BuyerOrganisation.objects.filter(pk=organisation.pk).exists()
    assert User.objects.filter(pk=seller.pk).exists()


def test_editing_a_ledger_entry_or_the_audit_trail_is_refused(moderator_client, ledger_entry, organisation):
    entry = audit.record("organisation.flagged", organisation, reason="spam")
    for url in (
        f"/admin/payments/ledgertransaction/{ledger_entry.transaction_id}/change/",
        f"/admin/core/auditentry/{entry.pk}/change/",
    ):
        answer = moderator_client.post(url, {"amount": "1", "reason": "edited"})
        assert answer.status_code == 403
    ledger_entry.refresh_from_db()
    assert ledger_entry.amount in (100, -100)
    assert AuditEntry.objects.get(pk=entry.pk).reason == "spam"


def test_a_moderator_opening_precise_values_is_told_why_not(moderator_client, seller):
    answer = moderator_client.get(f"/admin/accounts/user/{seller.pk}/precise-values/")
    assert answer.status_code == 403
    assert "data protection officer" in answer.content.decode().lower()
    assert not AuditEntry.objects.filter(action="seller.precise_values_viewed").exists()
