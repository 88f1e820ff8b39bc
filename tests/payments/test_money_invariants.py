"""A randomised run of 1,000 money operations through the real services, localstripe and the
Connect sandbox: payments, partial captures, cancellations, settlements, refunds, disputes (won,
lost), payout sweeps, sellers' bank payouts and receivable collection. Then, and every 100
operations: every transaction balances; no payable or receivable is negative and never both are
positive; each seller's payable is exactly their credits minus their payouts (net of what they
gave back), recomputed from our rows rather than from the ledger; the platform's Stripe balance
in the ledger is what Stripe's balance transactions add up to; reconciliation finds nothing.

PAYMENTS_RANDOM_SEED picks the run (default 2026); PAYMENTS_RANDOM_OPERATIONS its length.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db.models import Sum

from core.errors import ServiceError
from payments import ledger, money, services
from payments.models import (
    Dispute,
    LedgerAccount,
    LedgerEntry,
    Payment,
    Payout,
    PayoutReversal,
    SettlementShare,
)
from tests.payments.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)
A = LedgerAccount.Purpose
S = Payment.Status
SEED = int(os.environ.get("PAYMENTS_RANDOM_SEED", "2026"))
OPERATIONS = int(os.environ.get("PAYMENTS_RANDOM_OPERATIONS", "1000"))


def seller_books(seller_id: int) -> tuple[int, int]:
    payable = ledger.seller_payable(seller_id)
    owed = LedgerAccount.objects.filter(purpose=A.SELLER_RECEIVABLE, seller_id=seller_id).first()
    return payable, ledger.account_balance(owed) if owed else 0


def expected_net(seller_id: int) -> int:
    """Credits − payouts − what was taken back + what was given back, from our rows only."""
    net = SettlementShare.objects.filter(seller_id=seller_id).aggregate(t=Sum("net"))["t"] or 0
    for share in SettlementShare.objects.filter(seller_id=seller_id).select_related("payment"):
        payment = share.payment
        shares = list(payment.settlement_shares.order_by("seller_id"))
        weights = [s.net for s in shares] + [sum(s.fee for s in shares)]
        index = [s.seller_id for s in shares].index(seller_id)
        for refund in payment.refunds.filter(status="succeeded", kind="refund"):
            net -= money.allocate(refund.amount, weights)[index]
        for dispute in payment.disputes.all():
            net -= money.allocate(dispute.amount, weights)[index]
            if dispute.status == Dispute.Status.WON:
                net += money.allocate(dispute.amount, weights)[index]
    sent = (
        Payout.objects.filter(seller_id=seller_id, transfer_id__isnull=False).aggregate(t=Sum("amount"))["t"]
        or 0
    )
    back = PayoutReversal.objects.filter(payout__seller_id=seller_id, status="succeeded").aggregate(
        t=Sum("amount")
    )
    return net - sent + (back["t"] or 0)


def check_invariants(sellers, stripe_api, connect_api) -> None:
    assert ledger.unbalanced_transactions() == []
    for seller in sellers:
        payable, owed = seller_books(seller.pk)
        assert payable >= 0 and owed >= 0, (seller.pk, payable, owed)
        assert not (payable > 0 and owed > 0), (seller.pk, payable, owed)
        in_flight = Payout.objects.filter(seller=seller, status=Payout.Status.PENDING).count()
        assert in_flight == 0
        assert payable - owed == expected_net(seller.pk), seller.pk
    at_stripe = sum(
        t.amount
        for t in stripe_api.v1.balance_transactions.list({"limit": 100}).auto_paging_iter()
        if t.type in ("charge", "refund", "transfer", "transfer_refund", "adjustment")
    )
    in_books = (
        LedgerEntry.objects.filter(account__purpose=A.STRIPE_BALANCE).aggregate(t=Sum("amount"))["t"] or 0
    )
    assert in_books == at_stripe
    for payment in Payment.objects.filter(status__in=Payment.CAPTURED_STATES):
        assert 0 <= payment.amount_refunded <= payment.amount_captured


def test_a_thousand_random_money_operations_keep_the_books_right(
    buyer, buyer_with_card, paid_seller, stripe_sandbox, stripe_api, connect_api, deliver, settings
):
    from tests.factories import SellerFactory

    settings.PAYOUT_THRESHOLD_CENTS = 25_00
    rng = random.Random(SEED)
    buyers = [buyer, buyer_with_card("4242424242424242")]
    connected = [paid_seller() for _ in range(4)]
    sellers = connected + [SellerFactory() for _ in range(2)]  # two never set up payouts
    for seller in sellers[4:]:
        services.connect_account_ensure(seller_id=seller.pk)
    counts: dict[str, int] = defaultdict(int)
    refs = iter(range(10**9))

    def pay():
        organisation = rng.choice(buyers)
        amount = rng.randint(1, 60_00)
        reference = f"r:{next(refs)}"
        if rng.random() < 0.5:
            payment = charge(reference=reference, organisation_id=organisation.pk, amount=amount)
        else:
            payment = services.payment_authorise(
                reference=reference, organisation_id=organisation.pk, amount=amount
            )
            roll = rng.random()
            if roll < 0.15:
                services.payment_cancel(payment_id=payment.pk)
                return "cancel"
            kept = amount if roll < 0.8 else rng.randint(1, amount)
            payment = services.payment_capture(payment_id=payment.pk, amount=kept)
        if rng.random() < 0.8 and payment.status == S.CAPTURED:
            captured = payment.amount_captured
            chosen = rng.sample(sellers, k=min(rng.randint(1, 3), captured))
            cuts = sorted(rng.sample(range(1, captured), k=len(chosen) - 1)) if len(chosen) > 1 else []
            bounds = [0, *cuts, captured]
            shares = [(s.pk, bounds[i + 1] - bounds[i]) for i, s in enumerate(chosen)]
            services.settlement_credit(
                reference=reference,
                payment=payment,
                seller_shares=shares,
                fee_bps=rng.choice([0, 1000, 1500, 3333]),
            )
            return "pay+settle"
        return "pay"

    def refund():
        candidates = list(
            Payment.objects.filter(status__in=[S.CAPTURED, S.PARTIALLY_REFUNDED]).values_list("pk", flat=True)
        )
        if not candidates:
            return None
        payment = Payment.objects.get(pk=rng.choice(candidates))
        left = payment.amount_captured - payment.amount_refunded
        services.payment_refund(
            payment_id=payment.pk, amount=left if rng.random() < 0.4 else rng.randint(1, left)
        )
        return "refund"

    def dispute():
        candidates = list(
            Payment.objects.filter(
                status__in=[S.CAPTURED, S.PARTIALLY_REFUNDED], disputes__isnull=True
            ).values_list("pk", flat=True)
        )
        if not candidates:
            return None
        payment = Payment.objects.get(pk=rng.choice(candidates))
        created = stripe_sandbox.dispute(
            charge=payment.stripe_charge_id,
            payment_intent=payment.stripe_payment_intent_id,
            amount=rng.randint(1, payment.amount_captured),
        )
        events = [
            e
            for e in stripe_sandbox.connect_events("charge.dispute.created")
            if e["data"]["object"]["id"] == created["id"]
        ]
        assert deliver(events[0]).status_code == 200
        return "dispute"

    def close_dispute():
        open_disputes = list(
            Dispute.objects.filter(status="open").values_list("stripe_dispute_id", flat=True)
        )
        if not open_disputes:
            return None
        chosen = rng.choice(open_disputes)
        stripe_sandbox.close_dispute(chosen, rng.choice(["won", "lost"]))
        events = [
            e
            for e in stripe_sandbox.connect_events("charge.dispute.closed")
            if e["data"]["object"]["id"] == chosen
        ]
        assert deliver(events[0]).status_code == 200
        return "close dispute"

    def sweep():
        services.payout_sweep()
        return "payout sweep"

    def bank_payout():
        seller = rng.choice(connected)
        account_id = seller.connect_account.stripe_account_id
        if stripe_sandbox.connected_balance(account_id) <= 0:
            return None
        stripe_sandbox.bank_payout(account_id, status="paid")
        return "bank payout"

    def recover():
        services.payout_recover_receivables()
        return "recover"

    menu = [
        (pay, 40),
        (refund, 14),
        (dispute, 8),
        (close_dispute, 8),
        (sweep, 12),
        (bank_payout, 8),
        (recover, 10),
    ]
    operations = [op for op, weight in menu for _ in range(weight)]
    done = 0
    while done < OPERATIONS:
        try:
            name = rng.choice(operations)()
        except ServiceError as exc:  # a refused operation is a valid outcome; it must change nothing
            name = f"refused {exc.code}"
        if name is None:
            continue
        counts[name] += 1
        done += 1
        if done % 100 == 0:
            check_invariants(sellers, stripe_api, connect_api)

    check_invariants(sellers, stripe_api, connect_api)
    run = services.reconciliation_run(grace=timedelta(0))
    # the one finding expected: the payments this run captured and never credited ("pay" alone)
    uncredited = Payment.objects.filter(
        status__in=Payment.CAPTURED_STATES, amount_captured__gt=0, settled_at__isnull=True
    )
    found = run.found.all()
    assert {issue.kind for issue in found} <= {"captured_not_credited"}
    assert {issue.stripe_object_id for issue in found} == set(
        uncredited.values_list("stripe_charge_id", flat=True)
    )
    assert counts["pay"] + counts["pay+settle"] > OPERATIONS // 5 and counts["refund"] > OPERATIONS // 20
    assert counts["dispute"] > OPERATIONS // 50
    if OPERATIONS >= 1000:  # the long run reaches every path
        partial = Payment.objects.filter(status__in=Payment.CAPTURED_STATES, amount_captured__gt=0)
        assert any(p.amount_captured < p.amount for p in partial) and PayoutReversal.objects.exists()
        assert PayoutReversal.objects.filter(status="failed").exists()
    owed = LedgerEntry.objects.filter(account__purpose=A.SELLER_RECEIVABLE).aggregate(t=Sum("amount"))["t"]
    print(f"seed {SEED}: {dict(counts)}; receivables outstanding {owed}")
