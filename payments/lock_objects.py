"""Row locks for payments, always taken in this order (after marketplace's rows; the system's
order is core.locks.LOCK_ORDER, which `lock_row`/`lock_rows` check):

    Payment → sellers' payable ledger accounts (by pk) → Payout → PayoutReversal

A seller's payable LedgerAccount row is the seller's money lock: credits, clawbacks, payout
batching and transfer reversals of that seller serialise on it. Every helper evaluates its
queryset, orders by pk and locks only its own rows (`of=("self",)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import models
from django.db.models import QuerySet

from core.locks import lock_row, lock_rows
from payments import ledger
from payments.models import LedgerAccount, Payment, Payout, PayoutReversal, Refund

M = TypeVar("M", bound=models.Model)


def _one(queryset: QuerySet[M]) -> M:
    locked = lock_row(queryset)
    if locked is None:
        model: Any = queryset.model  # the stubs' type[M] does not know the concrete DoesNotExist
        raise model.DoesNotExist(f"no {model._meta.label} matches")
    return locked


def payment(payment_id: int) -> Payment:
    return _one(Payment.objects.filter(pk=payment_id))


def seller_accounts(seller_ids: Iterable[int], currency: str) -> list[LedgerAccount]:
    """Create (if needed) and lock the sellers' payable accounts, in pk order."""
    accounts = ledger.seller_accounts(LedgerAccount.Purpose.SELLER_PAYABLE, currency, sorted(set(seller_ids)))
    ids = [account.pk for account in accounts.values()]
    return lock_rows(LedgerAccount.objects.filter(pk__in=ids))


def refund(refund_id: int) -> Refund:
    return _one(Refund.objects.filter(pk=refund_id))


def payout(payout_id: int) -> Payout:
    return _one(Payout.objects.filter(pk=payout_id))


def payouts(queryset: QuerySet[Payout]) -> list[Payout]:
    return lock_rows(queryset)


def payout_reversal(reversal_id: int) -> PayoutReversal:
    return _one(PayoutReversal.objects.filter(pk=reversal_id))
