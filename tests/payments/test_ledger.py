"""The double-entry ledger: balanced per currency at commit, immutable, idempotent, exact fees."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict, InvalidInput
from payments import ledger, money
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

pytestmark = pytest.mark.django_db(transaction=True)
A = LedgerAccount.Purpose


@pytest.fixture
def accounts(seller):
    return {
        "cash": ledger.ledger_account(A.STRIPE_BALANCE),
        "fees": ledger.ledger_account(A.PLATFORM_FEES),
        "payable": ledger.ledger_account(A.SELLER_PAYABLE, seller_id=seller.pk),
    }


def settle(accounts, key: str, price: int = 1000, fee_bps: int = 1500):
    split = money.fee_split(price, fee_bps)
    return ledger.ledger_post(
        kind="settlement",
        reference="trade:1",
        idempotency_key=key,
        lines=[
            ledger.Line(accounts["cash"], price),
            ledger.Line(accounts["fees"], -split.fee),
            ledger.Line(accounts["payable"], -split.seller_share),
        ],
    )


def test_posting_is_balanced_and_idempotent(accounts, seller):
    first, created = settle(accounts, "trade:1:settle")
    again, created_again = settle(accounts, "trade:1:settle")

    assert created and not created_again and again.pk == first.pk
    assert LedgerEntry.objects.count() == 3
    assert ledger.seller_payable(seller.pk) == 850
    assert ledger.account_balance(accounts["fees"]) == -150
    assert ledger.unbalanced_transactions() == []
    with pytest.raises(Conflict):
        ledger.ledger_post(
            kind="refund",
            reference="trade:1",
            idempotency_key="trade:1:settle",
            lines=[ledger.Line(accounts["cash"], 1), ledger.Line(accounts["fees"], -1)],
        )


def test_unbalanced_posts_are_refused_before_writing(accounts):
    for lines in (
        [ledger.Line(accounts["cash"], 100), ledger.Line(accounts["fees"], -99)],
        [ledger.Line(accounts["cash"], 100)],
        [ledger.Line(accounts["cash"], 0), ledger.Line(accounts["fees"], 0)],
    ):
        with pytest.raises(InvalidInput):
            ledger.ledger_post(kind="capture", reference="x", idempotency_key="x", lines=lines)
    assert not LedgerTransaction.objects.exists()


def test_the_database_refuses_an_unbalanced_transaction_at_commit(accounts):
    with pytest.raises(IntegrityError, match="does not balance"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO payments_ledgertransaction (kind, reference, idempotency_key, memo, created_at)"
                    " VALUES ('capture', 'raw', 'raw', '', now()) RETURNING id"
                )
                (tx_id,) = cursor.fetchone()
                cursor.execute(
                    "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount, currency)"
                    " VALUES (%s, %s, 100, 'EUR'), (%s, %s, -90, 'EUR')",
                    [tx_id, accounts["cash"].pk, tx_id, accounts["fees"].pk],
                )
    assert not LedgerTransaction.objects.exists()


def test_an_entry_in_another_currency_than_its_account_is_refused(accounts):
    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_ledgertransaction (kind, reference, idempotency_key, memo, created_at)"
                " VALUES ('capture', 'raw', 'raw2', '', now()) RETURNING id"
            )
            (tx_id,) = cursor.fetchone()
            cursor.execute(
                "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount, currency)"
                " VALUES (%s, %s, 100, 'USD'), (%s, %s, -100, 'USD')",
                [tx_id, accounts["cash"].pk, tx_id, accounts["fees"].pk],
            )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payments_ledgerentry SET amount = amount + 1",
        "DELETE FROM payments_ledgerentry",
        "UPDATE payments_ledgertransaction SET reference = 'x'",
        "DELETE FROM payments_ledgertransaction",
    ],
)
def test_entries_and_transactions_are_never_updated_or_deleted(accounts, statement):
    settle(accounts, "k")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert LedgerEntry.objects.count() == 3


@given(
    price=st.integers(min_value=0, max_value=money.MAX_AMOUNT),
    fee_bps=st.integers(min_value=0, max_value=10_000),
)
def test_fee_plus_seller_share_is_the_price_exactly(price, fee_bps):
    split = money.fee_split(price, fee_bps)
    assert split.fee + split.seller_share == price
    assert split.fee >= 0 and split.seller_share >= 0
    assert isinstance(split.fee, int) and isinstance(split.seller_share, int)
    assert abs(split.fee * 10_000 - price * fee_bps) <= 5_000  # rounded once, half up


@pytest.mark.parametrize(
    ("amount", "currency"), [(0, "EUR"), (-1, "EUR"), (1.5, "EUR"), (100, "USD"), (True, "EUR")]
)
def test_bad_amounts_are_refused(amount, currency):
    with pytest.raises(InvalidInput):
        money.check_amount(amount, currency)
