"""Payouts leave their life in the audit trail: created, paid by the bank, or failed."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from payments import services
from payments.models import ConnectAccount, Payout
from tests.payments.test_payouts import earn

pytestmark = pytest.mark.django_db(transaction=True)


def trail(payout: Payout) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(target_type="payments.payout", target_id=str(payout.pk)).order_by("id")
    )


def test_a_payout_paid_then_another_failed_are_in_the_trail(buyer, paid_seller, stripe_sandbox, deliver):
    seller = paid_seller()
    earn(buyer, seller, 30_00)
    services.payout_sweep()
    account = ConnectAccount.objects.get(seller=seller)
    stripe_sandbox.bank_payout(account.stripe_account_id, status="paid")
    deliver(stripe_sandbox.connect_events("payout.paid")[0])
    paid = Payout.objects.get()

    earn(buyer, seller, 12_00)
    services.payout_sweep()
    stripe_sandbox.bank_payout(account.stripe_account_id, status="failed")
    deliver(stripe_sandbox.connect_events("payout.failed")[0])
    failed = Payout.objects.exclude(pk=paid.pk).get()

    assert [e.action for e in trail(paid)] == ["payout.created", "payout.in_transit", "payout.paid"]
    created, _, bank = trail(paid)
    assert created.changes == {"status": ["", "pending"], "amount": 30_00, "currency": "EUR"}
    assert bank.changes == {"status": ["in_transit", "paid"]} and bank.reason.startswith("bank payout po_")
    assert all(e.actor is None and e.actor_role == AuditEntry.SYSTEM for e in trail(paid))
    assert [e.action for e in trail(failed)] == ["payout.created", "payout.in_transit", "payout.failed"]
    returned = trail(failed)[-1]
    assert returned.changes == {"status": ["in_transit", "failed"]} and "bank" in returned.reason.lower()


def test_a_refused_transfer_fails_the_payout_in_the_trail(buyer, paid_seller, stripe_sandbox):
    seller = paid_seller()
    earn(buyer, seller, 20_00)
    account = ConnectAccount.objects.get(seller=seller)
    stripe_sandbox.complete_account(account.stripe_account_id, payouts_enabled="0")

    services.payout_sweep()

    payout = Payout.objects.get()
    assert [e.action for e in trail(payout)] == ["payout.created", "payout.failed"]
    assert trail(payout)[-1].changes == {"status": ["pending", "failed"]}
