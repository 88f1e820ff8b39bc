"""Ledger services and selectors: the only code that writes ledger rows.

Sign convention: debit > 0, credit < 0. Asset and expense accounts normally carry debit
balances; liability and revenue accounts credit balances, so a seller's payable balance is
the negated sum of its entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import Conflict, InvalidInput
from payments import money
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

KIND_OF_PURPOSE: dict[str, str] = {
    LedgerAccount.Purpose.STRIPE_BALANCE: LedgerAccount.Kind.ASSET,
    LedgerAccount.Purpose.BUYER_CHARGES: LedgerAccount.Kind.LIABILITY,
    LedgerAccount.Purpose.SELLER_PAYABLE: LedgerAccount.Kind.LIABILITY,
    LedgerAccount.Purpose.SELLER_RECEIVABLE: LedgerAccount.Kind.ASSET,
    LedgerAccount.Purpose.PLATFORM_FEES: LedgerAccount.Kind.REVENUE,
    LedgerAccount.Purpose.REFUNDS: LedgerAccount.Kind.EXPENSE,
    LedgerAccount.Purpose.DISPUTES: LedgerAccount.Kind.EXPENSE,
    LedgerAccount.Purpose.STRIPE_FEES: LedgerAccount.Kind.EXPENSE,
}


@dataclass(frozen=True)
class Line:
    account: LedgerAccount
    amount: int  # debit > 0, credit < 0


def ledger_account(purpose: str, currency: str = "EUR", *, seller_id: int | None = None) -> LedgerAccount:
    """The account for a purpose (per seller for payables and receivables), created on first use."""
    if purpose not in KIND_OF_PURPOSE:
        raise InvalidInput("account_purpose_unknown", f"Unknown ledger account purpose {purpose!r}.")
    per_seller = purpose in (LedgerAccount.Purpose.SELLER_PAYABLE, LedgerAccount.Purpose.SELLER_RECEIVABLE)
    if per_seller != (seller_id is not None):
        raise InvalidInput("account_owner_invalid", "Seller accounts need a seller; platform accounts none.")
    code = f"seller:{seller_id}:{purpose}:{currency}" if per_seller else f"platform:{purpose}:{currency}"
    account, _created = LedgerAccount.objects.get_or_create(
        code=code,
        defaults={
            "purpose": purpose,
            "kind": KIND_OF_PURPOSE[purpose],
            "currency": currency,
            "seller_id": seller_id,
        },
    )
    return account


def seller_accounts(purpose: str, currency: str, seller_ids: Sequence[int]) -> dict[int, LedgerAccount]:
    """{seller id: that seller's account for the purpose}: one query, plus one per missing account."""
    found = {
        cast(int, account.seller_id): account  # seller accounts have a seller
        for account in LedgerAccount.objects.filter(
            purpose=purpose, currency=currency, seller_id__in=seller_ids
        )
    }
    for seller_id in seller_ids:
        if seller_id not in found:
            found[seller_id] = ledger_account(purpose, currency, seller_id=seller_id)
    return found


def balances(accounts: Iterable[LedgerAccount]) -> dict[int, int]:
    """{account id: signed sum of its entries (debit positive)} in one query, 0 for no entries."""
    ids = [account.pk for account in accounts]
    totals = dict(
        LedgerEntry.objects.filter(account_id__in=ids)
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    return {pk: totals.get(pk, 0) for pk in ids}


def ledger_post(
    *,
    kind: str,
    reference: str,
    idempotency_key: str,
    lines: Sequence[Line],
    memo: str = "",
) -> tuple[LedgerTransaction, bool]:
    """Post one balanced transaction; returns (transaction, created).

    Idempotent by key: posting the same key again returns the first transaction and writes
    nothing. Checked here for a clear error, and again by the database at commit.
    """
    if kind not in LedgerTransaction.Kind.values:
        raise InvalidInput("ledger_kind_unknown", f"Unknown ledger transaction kind {kind!r}.")
    if len(lines) < 2:
        raise InvalidInput("ledger_unbalanced", "A transaction needs at least two entries.")
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if not isinstance(line.amount, int) or isinstance(line.amount, bool) or line.amount == 0:
            raise InvalidInput("ledger_amount_invalid", "Entries are non-zero whole minor units.")
        if line.account.currency not in money.CURRENCIES:
            raise InvalidInput("currency_unsupported", f"{line.account.currency!r} is not supported.")
        totals[line.account.currency] += line.amount
    if any(totals.values()):
        raise InvalidInput("ledger_unbalanced", f"Entries do not balance: {dict(totals)}.")
    if connection.vendor == "postgresql":
        posted = _insert_pg(kind, reference, idempotency_key, memo, lines)
    else:
        posted = _insert_orm(kind, reference, idempotency_key, memo, lines)
    if posted is not None:
        return posted, True
    existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:  # the first posting with this key is still being committed: wait for it
        existing = LedgerTransaction.objects.select_for_update().get(idempotency_key=idempotency_key)
    if existing.kind != kind or existing.reference != reference:
        raise Conflict("ledger_key_reused", "This idempotency key was used for another ledger transaction.")
    return existing, False


# One statement: the transaction row and its entries, or nothing when the key exists already.
_POST_SQL = """
WITH posted AS (
    INSERT INTO payments_ledgertransaction (kind, reference, idempotency_key, memo, created_at)
    VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), entries AS (
    INSERT INTO payments_ledgerentry (transaction_id, account_id, amount, currency)
    SELECT posted.id, e.account_id, e.amount, e.currency
    FROM posted, unnest(%s::bigint[], %s::bigint[], %s::varchar[]) AS e(account_id, amount, currency)
)
SELECT id FROM posted
"""


def _insert_pg(
    kind: str, reference: str, key: str, memo: str, lines: Sequence[Line]
) -> LedgerTransaction | None:
    """The hot path (every capture, settlement, payout): one round trip, no savepoint."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _POST_SQL,
            [
                kind,
                reference,
                key,
                memo,
                now,
                [line.account.pk for line in lines],
                [line.amount for line in lines],
                [line.account.currency for line in lines],
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return LedgerTransaction(
        pk=row[0],
        kind=kind,
        reference=reference,
        idempotency_key=key,
        memo=memo,
        created_at=now,
    )


def _insert_orm(
    kind: str, reference: str, key: str, memo: str, lines: Sequence[Line]
) -> LedgerTransaction | None:
    """Other databases (SQLite for make run): the same rows through the ORM."""
    try:
        with transaction.atomic():
            posted = LedgerTransaction.objects.create(
                kind=kind, reference=reference, idempotency_key=key, memo=memo
            )
            LedgerEntry.objects.bulk_create(
                LedgerEntry(
                    transaction=posted,
                    account=line.account,
                    amount=line.amount,
                    currency=line.account.currency,
                )
                for line in lines
            )
    except IntegrityError:
        return None
    return posted


def account_balance(account: LedgerAccount) -> int:
    """Signed sum of the account's entries (debit positive)."""
    return LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or 0


def seller_payable(seller_id: int, currency: str = "EUR") -> int:
    """What the platform owes the seller: the payable account's credit balance."""
    account = LedgerAccount.objects.filter(
        purpose=LedgerAccount.Purpose.SELLER_PAYABLE, seller_id=seller_id, currency=currency
    ).first()
    return -account_balance(account) if account else 0


def unbalanced_transactions() -> list[int]:
    """Ids of transactions whose entries do not sum to zero per currency (always empty)."""
    return list(
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .values_list("transaction_id", flat=True)
    )
