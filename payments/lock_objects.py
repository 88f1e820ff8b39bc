"""Row locks for payments, always taken in this order (after marketplace's Trade):

    Payment → sellers' payable ledger accounts (by pk) → Payout → PayoutReversal

A seller's payable LedgerAccount row is the seller's money lock: credits, clawbacks, payout
batching and transfer reversals of that seller serialise on it. Every helper evaluates its
queryset, orders by pk and locks only its own rows (`of=("self",)`).
"""

from __future__ import annotations

from collections.abc import Iterable

from payments import ledger
from payments.models import LedgerAccount, Payment, Payout, PayoutReversal


def payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).get(pk=payment_id)


def seller_accounts(seller_ids: Iterable[int], currency: str) -> list[LedgerAccount]:
    """Create (if needed) and lock the sellers' payable accounts, in pk order."""
    accounts = ledger.seller_accounts(LedgerAccount.Purpose.SELLER_PAYABLE, currency, sorted(set(seller_ids)))
    ids = [account.pk for account in accounts.values()]
    return list(LedgerAccount.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))


def payout(payout_id: int) -> Payout:
    return Payout.objects.select_for_update(of=("self",)).get(pk=payout_id)


def payout_reversal(reversal_id: int) -> PayoutReversal:
    return PayoutReversal.objects.select_for_update(of=("self",)).get(pk=reversal_id)
