"""`ledger_post` writes exactly the transaction and its entries, once per idempotency key.

Not transactional, so that the SQLite job of `.ci/run` ("sqlite twins") runs it as well: on
PostgreSQL a posting is one statement, elsewhere two ORM inserts, and both must behave as here.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from core.errors import Conflict
from payments import ledger
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

pytestmark = pytest.mark.django_db
A = LedgerAccount.Purpose


@pytest.fixture
def accounts(seller):
    return {
        "cash": ledger.ledger_account(A.STRIPE_BALANCE),
        "fees": ledger.ledger_account(A.PLATFORM_FEES),
        "payable": ledger.ledger_account(A.SELLER_PAYABLE, seller_id=seller.pk),
    }


def settle(accounts, key: str, *, kind: str = "settlement", memo: str = ""):
    return ledger.ledger_post(
        kind=kind,
        reference="trade:7",
        idempotency_key=key,
        memo=memo,
        lines=[
            ledger.Line(accounts["cash"], 1000),
            ledger.Line(accounts["fees"], -150),
            ledger.Line(accounts["payable"], -850),
        ],
    )


def test_a_posting_writes_its_transaction_and_entries_exactly(accounts, seller):
    posted, created = settle(accounts, "trade:7:settle", memo="sold")

    assert created
    stored = LedgerTransaction.objects.get(pk=posted.pk)
    assert (stored.kind, stored.reference, stored.idempotency_key, stored.memo, stored.reverses_id) == (
        "settlement",
        "trade:7",
        "trade:7:settle",
        "sold",
        None,
    )
    assert (posted.kind, posted.reference, posted.idempotency_key, posted.memo) == (
        "settlement",
        "trade:7",
        "trade:7:settle",
        "sold",
    )
    assert sorted(stored.entries.values_list("account_id", "amount", "currency")) == sorted(
        [
            (accounts["cash"].pk, 1000, "EUR"),
            (accounts["fees"].pk, -150, "EUR"),
            (accounts["payable"].pk, -850, "EUR"),
        ]
    )
    assert ledger.seller_payable(seller.pk) == 850
    assert ledger.unbalanced_transactions() == []


def test_the_same_key_again_returns_the_first_posting_and_writes_nothing(accounts):
    first, _created = settle(accounts, "trade:7:settle")

    again, created = settle(accounts, "trade:7:settle")

    assert not created and again.pk == first.pk
    assert LedgerTransaction.objects.count() == 1 and LedgerEntry.objects.count() == 3
    with pytest.raises(Conflict):
        settle(accounts, "trade:7:settle", kind="refund")
    assert LedgerTransaction.objects.count() == 1 and LedgerEntry.objects.count() == 3


def test_a_duplicate_inside_a_callers_transaction_leaves_the_callers_work(accounts):
    settle(accounts, "trade:7:settle")

    with transaction.atomic():
        settle(accounts, "trade:8:settle")
        _again, created = settle(accounts, "trade:7:settle")
        settle(accounts, "trade:9:settle")

    assert not created
    assert sorted(LedgerTransaction.objects.values_list("idempotency_key", flat=True)) == [
        "trade:7:settle",
        "trade:8:settle",
        "trade:9:settle",
    ]
    assert LedgerEntry.objects.count() == 9
