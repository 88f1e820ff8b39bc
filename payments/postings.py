"""Ledger postings for money that moves through Stripe, on top of `ledger.ledger_post`.

Chart of accounts (platform's books, one set per currency; debit > 0, credit < 0):

| account                 | kind      | holds                                                          |
|-------------------------|-----------|----------------------------------------------------------------|
| stripe_balance          | asset     | the platform's balance at Stripe                               |
| buyer_charges           | liability | money captured from buyers and not yet settled to sellers      |
| seller_payable (seller) | liability | what a seller has earned and not yet been transferred          |
| seller_receivable (sel.)| asset     | what a seller owes back (a loss after payout we could not      |
|                         |           | recover by reversing a transfer)                               |
| platform_fees           | revenue   | the platform's fee on each sale                                |
| refunds                 | expense   | refunds of settled sales (less what sellers and fees give back)|
| disputes                | expense   | chargebacks of settled sales (less the same recoveries)        |
| stripe_fees             | expense   | what Stripe keeps (processing, dispute fees), as its balance   |
|                         |           | transactions report them                                       |

Postings (one balanced transaction each, idempotent by a key derived from our row ids):

- capture            Dr stripe_balance  / Cr buyer_charges                   payment:{id}:capture
- settlement         Dr buyer_charges price / Cr seller_payable share − fee (per seller)
                     / Cr platform_fees fee                                  payment:{id}:settlement
- refund, unsettled  Dr buyer_charges / Cr stripe_balance                    refund:{id}
- refund, settled    Dr refunds / Cr stripe_balance, and the recovery: Dr seller_payable (or
                     seller_receivable beyond what is payable) and Dr platform_fees, Cr refunds,
                     split pro rata of each seller's net and the fee          refund:{id}
- dispute withdrawal as a refund, through `disputes`                         dispute:{id}:{txn}
- dispute reinstated the exact opposite of its withdrawal                    dispute:{id}:{txn}
- payout (transfer)  Dr seller_payable / Cr stripe_balance                   payout:{id}
- transfer reversal  Dr stripe_balance / Cr seller_receivable (then payable) payout_reversal:{id}
- Stripe's fee       Dr stripe_fees / Cr stripe_balance (a refunded fee the    stripe_fee:{txn}
                     other way), booked by reconciliation from the balance transaction

Every credit to a seller first clears their receivable; every debit first uses what is payable
(less payouts in flight), the rest becomes a receivable. So payable and receivable are never both
positive, neither is ever negative, and a seller's net position (payable − receivable) is the sum
of their credits and debits in any order: events that arrive out of order end in the same books.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Sum

from payments import ledger, money
from payments.ledger import Line
from payments.models import LedgerAccount, LedgerTransaction, Payment, Payout, SettlementShare


class SellerBooks:
    """Each seller's payable and receivable, read once under the lock of their payable account.

    Requires: the caller holds `lock_objects.seller_accounts(...)` for these sellers, in the
    transaction that posts the lines this object builds.
    """

    def __init__(self, seller_ids: Iterable[int], currency: str) -> None:
        self.currency = currency
        self.payable: dict[int, LedgerAccount] = {}
        self.receivable: dict[int, LedgerAccount] = {}
        self.available: dict[int, int] = {}  # payable less payouts still waiting for their transfer
        self.owed: dict[int, int] = {}  # receivable balance
        ids = sorted(set(seller_ids))
        self.payable = ledger.seller_accounts(LedgerAccount.Purpose.SELLER_PAYABLE, currency, ids)
        self.receivable = ledger.seller_accounts(LedgerAccount.Purpose.SELLER_RECEIVABLE, currency, ids)
        balances = ledger.balances([*self.payable.values(), *self.receivable.values()])
        in_flight = dict(
            Payout.objects.filter(seller_id__in=ids, currency=currency, status=Payout.Status.PENDING)
            .values("seller_id")
            .annotate(total=Sum("amount"))
            .values_list("seller_id", "total")
        )
        for seller_id in ids:
            self.available[seller_id] = -balances[self.payable[seller_id].pk] - in_flight.get(seller_id, 0)
            self.owed[seller_id] = balances[self.receivable[seller_id].pk]

    def credit(self, seller_id: int, amount: int) -> list[Line]:
        """Lines giving the seller `amount`: clear what they owe first, the rest becomes payable."""
        if amount <= 0:
            return []
        repaid = min(amount, max(self.owed[seller_id], 0))
        lines = []
        if repaid:
            lines.append(Line(self.receivable[seller_id], -repaid))
            self.owed[seller_id] -= repaid
        if amount - repaid:
            lines.append(Line(self.payable[seller_id], -(amount - repaid)))
            self.available[seller_id] += amount - repaid
        return lines

    def debit(self, seller_id: int, amount: int) -> tuple[list[Line], int]:
        """Lines taking `amount` back from the seller: from what is payable, the rest as a
        receivable. Returns (lines, amount booked as receivable)."""
        if amount <= 0:
            return [], 0
        from_payable = min(amount, max(self.available[seller_id], 0))
        lines = []
        if from_payable:
            lines.append(Line(self.payable[seller_id], from_payable))
            self.available[seller_id] -= from_payable
        owed = amount - from_payable
        if owed:
            lines.append(Line(self.receivable[seller_id], owed))
            self.owed[seller_id] += owed
        return lines, owed


def platform(purpose: str, currency: str) -> LedgerAccount:
    return ledger.ledger_account(purpose, currency)


def post_capture(payment: Payment, gross: int) -> LedgerTransaction:
    """Money in: Dr stripe_balance / Cr buyer_charges. Requires the payment's row lock."""
    posted, _created = ledger.ledger_post(
        kind=LedgerTransaction.Kind.CAPTURE,
        reference=payment.reference,
        idempotency_key=f"payment:{payment.pk}:capture",
        lines=[
            Line(platform(LedgerAccount.Purpose.STRIPE_BALANCE, payment.currency), gross),
            Line(platform(LedgerAccount.Purpose.BUYER_CHARGES, payment.currency), -gross),
        ],
        memo=f"capture of payment {payment.pk}",
    )
    return posted


def settlement_lines(payment: Payment, shares: list[SettlementShare], books: SellerBooks) -> list[Line]:
    lines = [
        Line(platform(LedgerAccount.Purpose.BUYER_CHARGES, payment.currency), sum(s.gross for s in shares))
    ]
    for share in shares:
        lines += books.credit(share.seller_id, share.net)
    fees = sum(s.fee for s in shares)
    if fees:
        lines.append(Line(platform(LedgerAccount.Purpose.PLATFORM_FEES, payment.currency), -fees))
    return lines


def loss_lines(
    payment: Payment, amount: int, expense: str, books: SellerBooks | None
) -> tuple[list[Line], dict[int, int]]:
    """Money out to the buyer (refund, chargeback): `amount` leaves stripe_balance.

    Before settlement it comes out of buyer_charges. After settlement it is an expense, and the
    sellers and the platform fee give back their pro rata part of it. Returns the lines and the
    receivable booked per seller. Requires the payment's and the sellers' locks.
    """
    currency = payment.currency
    cash = Line(platform(LedgerAccount.Purpose.STRIPE_BALANCE, currency), -amount)
    if payment.settled_at is None or books is None:
        return [Line(platform(LedgerAccount.Purpose.BUYER_CHARGES, currency), amount), cash], {}
    shares = list(payment.settlement_shares.order_by("seller_id"))
    weights = [s.net for s in shares] + [sum(s.fee for s in shares)]
    if sum(weights) <= 0:
        return [Line(platform(expense, currency), amount), cash], {}
    parts = money.allocate(amount, weights)
    lines = [Line(platform(expense, currency), amount), cash]
    owed: dict[int, int] = {}
    recovered = 0
    for share, part in zip(shares, parts, strict=False):
        seller_lines, booked = books.debit(share.seller_id, part)
        lines += seller_lines
        recovered += part
        if booked:
            owed[share.seller_id] = booked
    if parts[-1]:
        lines.append(Line(platform(LedgerAccount.Purpose.PLATFORM_FEES, currency), parts[-1]))
        recovered += parts[-1]
    if recovered:
        lines.append(Line(platform(expense, currency), -recovered))
    return lines, owed


def gain_lines(payment: Payment, amount: int, expense: str, books: SellerBooks | None) -> list[Line]:
    """The opposite of `loss_lines` (a chargeback reinstated): money back in, shares re-credited."""
    currency = payment.currency
    cash = Line(platform(LedgerAccount.Purpose.STRIPE_BALANCE, currency), amount)
    if payment.settled_at is None or books is None:
        return [cash, Line(platform(LedgerAccount.Purpose.BUYER_CHARGES, currency), -amount)]
    shares = list(payment.settlement_shares.order_by("seller_id"))
    weights = [s.net for s in shares] + [sum(s.fee for s in shares)]
    if sum(weights) <= 0:
        return [cash, Line(platform(expense, currency), -amount)]
    parts = money.allocate(amount, weights)
    lines = [cash, Line(platform(expense, currency), -amount)]
    given = 0
    for share, part in zip(shares, parts, strict=False):
        lines += books.credit(share.seller_id, part)
        given += part
    if parts[-1]:
        lines.append(Line(platform(LedgerAccount.Purpose.PLATFORM_FEES, currency), -parts[-1]))
        given += parts[-1]
    if given:
        lines.append(Line(platform(expense, currency), given))
    return lines


def post(kind: str, reference: str, key: str, lines: list[Line], memo: str) -> LedgerTransaction:
    posted, _created = ledger.ledger_post(
        kind=kind, reference=reference, idempotency_key=key, lines=lines, memo=memo
    )
    return posted


def post_payout(payout: Payout) -> LedgerTransaction:
    """The transfer left: Dr seller_payable / Cr stripe_balance. Requires the seller's lock."""
    return post(
        LedgerTransaction.Kind.PAYOUT,
        f"payout:{payout.pk}",
        f"payout:{payout.pk}",
        [
            Line(
                ledger.ledger_account(
                    LedgerAccount.Purpose.SELLER_PAYABLE, payout.currency, seller_id=payout.seller_id
                ),
                payout.amount,
            ),
            Line(platform(LedgerAccount.Purpose.STRIPE_BALANCE, payout.currency), -payout.amount),
        ],
        f"transfer {payout.transfer_id} to seller {payout.seller_id}",
    )


def post_stripe_fee(*, balance_transaction_id: str, source: str, fee: int, currency: str) -> bool:
    """Book the fee Stripe kept on one balance transaction: Dr stripe_fees / Cr stripe_balance, so
    stripe_balance follows Stripe's net. Idempotent by the balance transaction's id; True if new."""
    _posted, created = ledger.ledger_post(
        kind=LedgerTransaction.Kind.STRIPE_FEE,
        reference=f"stripe:{source}"[:80],
        idempotency_key=f"stripe_fee:{balance_transaction_id}",
        lines=[
            Line(platform(LedgerAccount.Purpose.STRIPE_FEES, currency), fee),
            Line(platform(LedgerAccount.Purpose.STRIPE_BALANCE, currency), -fee),
        ],
        memo=f"Stripe fee on {balance_transaction_id} ({source})",
    )
    return created
