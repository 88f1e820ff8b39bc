"""Refunds and disputes before settlement, after settlement, and after payout (transfer reversal,
or a receivable when the seller's Stripe balance is gone); and every order of a payment's events
ends in the same state."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from django.conf import settings
from django.db.models import Sum

from devtools.stripe_sandbox import fixtures as sandbox_fixtures
from payments import ledger, services
from payments.models import (
    ConnectAccount,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    Payout,
    PayoutReversal,
)
from tests.payments.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)
A = LedgerAccount.Purpose
S = Payment.Status
FIXTURES = sandbox_fixtures.load_fixtures()


def platform(purpose: str) -> int:
    return ledger.account_balance(ledger.ledger_account(purpose))


def receivable(seller) -> int:
    return ledger.account_balance(ledger.ledger_account(A.SELLER_RECEIVABLE, seller_id=seller.pk))


def sale(buyer, shares, *, reference: str, fee_bps: int = 1500) -> Payment:
    payment = charge(
        reference=reference, organisation_id=buyer.pk, amount=sum(amount for _s, amount in shares)
    )
    services.settlement_credit(
        reference=reference, payment=payment, seller_shares=[(s.pk, a) for s, a in shares], fee_bps=fee_bps
    )
    payment.refresh_from_db()
    return payment


def test_a_refund_before_settlement_comes_out_of_buyer_charges(buyer):
    payment = charge(reference="trade:1", organisation_id=buyer.pk, amount=10_00)

    refund = services.payment_refund(payment_id=payment.pk, amount=3_00, reason="two lines undelivered")

    payment.refresh_from_db()
    assert refund.status == "succeeded" and refund.stripe_refund_id.startswith("re_")
    assert payment.status == S.PARTIALLY_REFUNDED and payment.amount_refunded == 3_00
    assert platform(A.STRIPE_BALANCE) == 7_00 and platform(A.BUYER_CHARGES) == -7_00
    assert platform(A.REFUNDS) == 0
    services.payment_refund(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == S.REFUNDED and platform(A.STRIPE_BALANCE) == 0 == platform(A.BUYER_CHARGES)


def test_settlement_splits_exactly_and_a_refund_takes_it_back_pro_rata(buyer):
    from tests.factories import SellerFactory

    alice, bob = SellerFactory(), SellerFactory()
    payment = sale(buyer, [(alice, 6_00), (bob, 4_00)], reference="bundle:1")

    assert (ledger.seller_payable(alice.pk), ledger.seller_payable(bob.pk)) == (5_10, 3_40)
    assert platform(A.PLATFORM_FEES) == -1_50 and platform(A.BUYER_CHARGES) == 0

    services.payment_refund(payment_id=payment.pk, amount=5_00)

    # 5.00 split pro rata of 5.10 / 3.40 / 1.50 (largest remainder): 2.55 / 1.70 / 0.75
    assert (ledger.seller_payable(alice.pk), ledger.seller_payable(bob.pk)) == (2_55, 1_70)
    assert platform(A.PLATFORM_FEES) == -75 and platform(A.REFUNDS) == 0
    assert platform(A.STRIPE_BALANCE) == 5_00
    assert ledger.unbalanced_transactions() == []


def test_settlement_refuses_bad_shares_and_is_idempotent(buyer):
    from core.errors import Conflict, InvalidInput
    from tests.factories import SellerFactory

    seller = SellerFactory()
    payment = charge(reference="trade:2", organisation_id=buyer.pk, amount=10_00)
    for shares, fee in (
        ([(seller.pk, 9_99)], 1500),  # does not add up to what was captured
        ([(seller.pk, 5_00), (seller.pk, 5_00)], 1500),  # the same seller twice
        ([(seller.pk, 0), (seller.pk, 10_00)], 1500),
        ([(seller.pk, 10_00)], 10_001),
        ([(buyer.pk * 0 + 999_999, 10_00)], 1500),  # not a seller
    ):
        with pytest.raises(InvalidInput):
            services.settlement_credit(
                reference="trade:2", payment=payment, seller_shares=shares, fee_bps=fee
            )
    with pytest.raises(InvalidInput):
        services.settlement_credit(
            reference="trade:other", payment=payment, seller_shares=[(seller.pk, 10_00)], fee_bps=0
        )
    assert not LedgerTransaction.objects.filter(kind="settlement").exists()

    first = services.settlement_credit(
        reference="trade:2", payment=payment, seller_shares=[(seller.pk, 10_00)], fee_bps=1500
    )
    again = services.settlement_credit(
        reference="trade:2", payment=payment.pk, seller_shares=[(seller.pk, 10_00)], fee_bps=1500
    )

    assert first.pk == again.pk and ledger.seller_payable(seller.pk) == 8_50
    with pytest.raises(Conflict):
        services.settlement_credit(
            reference="trade:2", payment=payment, seller_shares=[(seller.pk, 10_00)], fee_bps=0
        )


def test_a_refund_after_payout_reverses_the_transfer(buyer, paid_seller, stripe_sandbox, connect_api):
    seller = paid_seller()
    payment = sale(buyer, [(seller, 20_00)], reference="trade:3", fee_bps=0)
    services.payout_sweep()
    payout = Payout.objects.get()

    services.payment_refund(payment_id=payment.pk, amount=8_00)

    reversal = PayoutReversal.objects.get()
    assert reversal.status == "succeeded" and reversal.amount == 8_00
    assert connect_api.v1.transfers.retrieve(payout.transfer_id).amount_reversed == 8_00
    payout.refresh_from_db()
    assert payout.amount_reversed == 8_00 and payout.status == Payout.Status.IN_TRANSIT
    assert ledger.seller_payable(seller.pk) == 0 and receivable(seller) == 0
    assert platform(A.STRIPE_BALANCE) == 20_00 - 20_00 - 8_00 + 8_00  # in, paid out, refunded, recovered
    assert stripe_sandbox.connected_balance(payout.connect_account.stripe_account_id) == 12_00

    services.payment_refund(payment_id=payment.pk)  # the rest
    payout.refresh_from_db()
    assert payout.status == Payout.Status.REVERSED and payout.amount_reversed == 20_00


def test_when_the_transfer_cannot_be_reversed_the_seller_owes_it(buyer, paid_seller, stripe_sandbox):
    seller = paid_seller()
    payment = sale(buyer, [(seller, 20_00)], reference="trade:4", fee_bps=0)
    services.payout_sweep()
    account = ConnectAccount.objects.get(seller=seller)
    stripe_sandbox.bank_payout(account.stripe_account_id, status="paid")  # the money reached their bank

    services.payment_refund(payment_id=payment.pk, amount=15_00)

    assert PayoutReversal.objects.get().status == "failed"
    assert receivable(seller) == 15_00 and ledger.seller_payable(seller.pk) == 0
    assert services.payout_recover(seller_id=seller.pk) == 0  # still nothing to take back
    # their next earnings repay it first
    sale(buyer, [(seller, 10_00)], reference="trade:5", fee_bps=0)
    assert receivable(seller) == 5_00 and ledger.seller_payable(seller.pk) == 0
    sale(buyer, [(seller, 10_00)], reference="trade:6", fee_bps=0)
    assert receivable(seller) == 0 and ledger.seller_payable(seller.pk) == 5_00


def test_a_dispute_after_payout_is_taken_back_and_given_back_when_won(
    buyer, paid_seller, stripe_sandbox, deliver
):
    seller = paid_seller()
    payment = sale(buyer, [(seller, 30_00)], reference="trade:7", fee_bps=1000)
    services.payout_sweep()
    dispute = stripe_sandbox.dispute(
        charge=payment.stripe_charge_id, payment_intent=payment.stripe_payment_intent_id, amount=30_00
    )

    deliver(stripe_sandbox.connect_events("charge.dispute.created")[0])

    payment.refresh_from_db()
    assert payment.status == S.DISPUTED
    assert platform(A.STRIPE_BALANCE) == 30_00 - 27_00 - 30_00 + 27_00  # the chargeback, then the reversal
    assert platform(A.PLATFORM_FEES) == 0 and receivable(seller) == 0
    assert Payout.objects.get().status == Payout.Status.REVERSED

    stripe_sandbox.close_dispute(dispute["id"], "won")
    deliver(stripe_sandbox.connect_events("charge.dispute.closed")[0])

    payment.refresh_from_db()
    assert payment.status == S.CAPTURED and payment.disputes.get().status == "won"
    assert ledger.seller_payable(seller.pk) == 27_00 and platform(A.PLATFORM_FEES) == -3_00
    assert platform(A.DISPUTES) == 0
    assert services.reconciliation_run(grace=__import__("datetime").timedelta(0)).issues == 0


# --- Every order of a payment's events ends in the same state ---------------------------------------

EVENTS = ("succeeded", "refunded", "dispute_created", "dispute_closed")


def charge_refunded_event(payment: Payment, charge_id: str) -> dict:
    charge = {
        **FIXTURES["charge"],
        "id": charge_id,
        "amount": payment.amount,
        "currency": "eur",
        "captured": True,
        "refunded": False,
        "amount_refunded": 4_00,
        "payment_intent": payment.stripe_payment_intent_id,
    }
    return sandbox_fixtures.build_event(
        FIXTURES, "charge.refunded", charge, api_version=settings.STRIPE_API_VERSION
    )


def prepare(
    buyer, sellers, stripe_api, stripe_sandbox, *, reference: str, settled: bool, outcome: str
) -> dict:
    """A 10.00 payment; at Stripe: captured, refunded 4.00, disputed 6.00, dispute closed. Returns
    the four events Stripe sent, not yet delivered to us."""
    payment = services.payment_authorise(reference=reference, organisation_id=buyer.pk, amount=10_00)
    if settled:
        services.payment_capture(payment_id=payment.pk)
        services.settlement_credit(
            reference=reference,
            payment=payment,
            seller_shares=[(sellers[0].pk, 7_00), (sellers[1].pk, 3_00)],
            fee_bps=1500,
        )
    else:
        stripe_api.v1.payment_intents.capture(payment.stripe_payment_intent_id)
    payment.refresh_from_db()
    charge_id = next(
        c.id
        for c in stripe_api.v1.charges.list({"limit": 100}).data
        if c.payment_intent == payment.stripe_payment_intent_id
    )
    stripe_api.v1.refunds.create({"payment_intent": payment.stripe_payment_intent_id, "amount": 4_00})
    dispute = stripe_sandbox.dispute(
        charge=charge_id, payment_intent=payment.stripe_payment_intent_id, amount=6_00
    )
    stripe_sandbox.close_dispute(dispute["id"], outcome)
    succeeded = next(
        e
        for e in stripe_sandbox.localstripe_events("payment_intent.succeeded")
        if e["data"]["object"]["id"] == payment.stripe_payment_intent_id
    )
    of_dispute = [e for e in stripe_sandbox.connect_events() if e["data"]["object"]["id"] == dispute["id"]]
    return {
        "payment": payment,
        "succeeded": succeeded,
        "refunded": charge_refunded_event(payment, charge_id),
        "dispute_created": next(e for e in of_dispute if e["type"] == "charge.dispute.created"),
        "dispute_closed": next(e for e in of_dispute if e["type"] == "charge.dispute.closed"),
    }


def end_state(payment: Payment, sellers) -> tuple:
    payment.refresh_from_db()
    books = Counter()
    for purpose, seller_id, amount in LedgerEntry.objects.filter(
        transaction__reference=payment.reference
    ).values_list("account__purpose", "account__seller_id", "amount"):
        role = "platform" if seller_id is None else f"seller{[s.pk for s in sellers].index(seller_id)}"
        books[(purpose, role)] += amount
    kinds = Counter(
        LedgerTransaction.objects.filter(reference=payment.reference).values_list("kind", flat=True)
    )
    sellers_books = tuple((ledger.seller_payable(s.pk), receivable(s)) for s in sellers)
    return (
        payment.status,
        payment.amount_captured,
        payment.amount_refunded,
        tuple(payment.disputes.values_list("status", "amount")),
        tuple(sorted((k, v) for k, v in books.items() if v)),
        tuple(sorted(kinds.items())),
        sellers_books,
    )


@pytest.mark.parametrize("settled", [False, True], ids=["before settlement", "after settlement"])
@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_every_order_of_events_ends_in_the_same_state(
    buyer, stripe_api, stripe_sandbox, deliver, settled, outcome
):
    from tests.factories import SellerFactory

    states = {}
    for number, order in enumerate(itertools.permutations(EVENTS)):
        sellers = [SellerFactory(), SellerFactory()]
        prepared = prepare(
            buyer,
            sellers,
            stripe_api,
            stripe_sandbox,
            reference=f"order:{number}",
            settled=settled,
            outcome=outcome,
        )
        for name in order:
            assert deliver(prepared[name]).status_code == 200
        states[order] = end_state(prepared["payment"], sellers)

    distinct = set(states.values())
    assert len(distinct) == 1, {order: state for order, state in list(states.items())[:3]}
    (state,) = distinct
    expected_status = S.PARTIALLY_REFUNDED if outcome == "won" else S.DISPUTE_LOST
    assert state[0] == expected_status and state[1] == 10_00 and state[2] == 4_00
    assert state[3] == ((outcome, 6_00),)
    assert ledger.unbalanced_transactions() == []
    total_stripe = LedgerEntry.objects.filter(account__purpose=A.STRIPE_BALANCE).aggregate(t=Sum("amount"))[
        "t"
    ]
    assert total_stripe == 24 * (10_00 - 4_00 - (6_00 if outcome == "lost" else 0))
