"""A captured settlement payment credits its sellers exactly once, whatever order the capture,
its outcome, the payments resume sweep and settlement's re-drive arrive in (issue 9)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace import payments_port, services, settlement
from marketplace.models import SettlementBatch, Trade
from payments import ledger
from payments import services as payment_services
from payments.models import LedgerAccount, LedgerTransaction, Payment, SettlementShare
from payments.money import fee_split
from tests.marketplace.conftest import active_listing
from tests.marketplace.settlement.conftest import settle_trade

pytestmark = pytest.mark.django_db(transaction=True)


def bought(buyer, floor: int) -> Trade:
    listing = active_listing(pricing_mode="fixed", floor=floor)
    bid = services.bid_place(organisation=buyer, listing_public_id=listing.public_id)
    return Trade.objects.get(bid=bid)


def delivered_batch(buyer, floors: list[int]) -> tuple[list[Trade], SettlementBatch]:
    """Trades claimed, authorised and delivered: what a worker has done before it captures."""
    trades = [bought(buyer, floor) for floor in floors]
    (batch_id,) = settlement.claim(trade_ids=[t.pk for t in trades])
    batch = SettlementBatch.objects.get(pk=batch_id)
    settlement._authorise(batch)
    settlement._deliver(batch)
    assert set(Trade.objects.filter(batch=batch).values_list("status", flat=True)) == {"delivered"}
    return trades, batch


def redrive() -> None:
    """The settlement sweep once the claim has lapsed (a killed worker's trades are due again)."""
    Trade.objects.filter(status__in=settlement.IN_PROGRESS).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    settlement.trades_settle_due()


def buyer_charges_balance() -> int:
    return sum(
        ledger.account_balance(account)
        for account in LedgerAccount.objects.filter(purpose=LedgerAccount.Purpose.BUYER_CHARGES)
    )


def assert_credited_once(trades: list[Trade], floors: list[int], fee_bps: int) -> None:
    for trade, floor in zip(trades, floors, strict=True):
        trade.refresh_from_db()
        assert trade.status == Trade.Status.SETTLED and trade.charged_cents == floor
        assert ledger.seller_payable(trade.lines.get().seller_id) == fee_split(floor, fee_bps).seller_share
    payment = Payment.objects.get(reference=trades[0].batch.payment_reference)
    assert payment.settled_at is not None
    assert SettlementShare.objects.filter(payment=payment).count() == len(trades)
    assert LedgerTransaction.objects.filter(kind="settlement").count() == 1
    assert buyer_charges_balance() == 0
    assert ledger.unbalanced_transactions() == []


def test_capture_then_its_outcome_then_the_credit_step_credits_once(buyer, settings):
    settings.PLATFORM_FEE_BPS = 1500
    floors = [2000, 3100]
    trades, batch = delivered_batch(buyer, floors)
    # the worker captured, committed, and was killed before its credit transaction
    payments_port.capture(batch=batch, amount=sum(floors))
    # the capture's outcome is delivered first
    assert payment_services.payment_outcomes_deliver() >= 1
    assert set(Trade.objects.filter(batch=batch).values_list("status", flat=True)) == {"delivered"}

    redrive()

    assert_credited_once(trades, floors, 1500)
    # more deliveries and sweeps change nothing
    payment_services.payment_outcomes_deliver()
    redrive()
    assert_credited_once(trades, floors, 1500)


def test_the_resume_sweep_finishing_a_capture_before_the_redrive_credits_once(buyer, settings):
    settings.PLATFORM_FEE_BPS = 1500
    settings.PAYMENTS_RESUME_AFTER_SECONDS = 0
    floors = [2500]
    trades, batch = delivered_batch(buyer, floors)
    payment = Payment.objects.get(reference=batch.payment_reference)
    # the worker asked for the capture (committed) and died before Stripe answered
    Payment.objects.filter(pk=payment.pk).update(
        capture_requested=2500, updated_at=timezone.now() - timedelta(minutes=5)
    )

    payment_services.payments_resume_pending()  # finishes the capture at Stripe
    payment_services.payment_outcomes_deliver()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CAPTURED
    assert Trade.objects.get(pk=trades[0].pk).status == Trade.Status.DELIVERED

    redrive()

    assert_credited_once(trades, floors, 1500)


def test_a_dispute_won_settles_the_disputed_trades_again_without_a_second_credit(buyer, settings):
    from payments.handlers import PaymentOutcome

    settings.PLATFORM_FEE_BPS = 1500
    trade = bought(buyer, 2000)
    assert settle_trade(trade.pk) == Trade.Status.SETTLED
    trade.refresh_from_db()
    payment = Payment.objects.get(reference=trade.batch.payment_reference)

    def outcome(previous: str, status: str, event_id: int) -> PaymentOutcome:
        return PaymentOutcome(
            event_id=event_id,
            payment_id=payment.pk,
            reference=payment.reference,
            previous_status=previous,
            status=status,
            amount=2000,
            amount_captured=2000,
            amount_refunded=0,
            currency="EUR",
            reason="",
        )

    settlement.on_payment_outcome(outcome("captured", "disputed", 1))
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.DISPUTED
    settlement.on_payment_outcome(outcome("disputed", "captured", 2))

    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED
    assert_credited_once([trade], [2000], 1500)


def test_an_authorisation_outcome_never_wakes_a_batch_a_worker_holds(buyer):
    trade = bought(buyer, 2000)
    (batch_id,) = settlement.claim(trade_ids=[trade.pk])
    held_until = Trade.objects.get(pk=trade.pk).next_attempt_at
    batch = SettlementBatch.objects.get(pk=batch_id)
    payment = payment_services.payment_authorise(
        reference=batch.payment_reference, organisation_id=buyer.pk, amount=2000
    )
    assert payment.status == Payment.Status.AUTHORISED

    payment_services.payment_outcomes_deliver()  # pending → authorised, while the worker holds it

    trade.refresh_from_db()
    assert trade.next_attempt_at == held_until and trade.status == Trade.Status.PENDING_PAYMENT


def test_a_batch_left_waiting_for_the_buyer_is_woken_by_their_outcome(buyer):
    trade = bought(buyer, 2000)
    (batch_id,) = settlement.claim(trade_ids=[trade.pk])
    SettlementBatch.objects.filter(pk=batch_id).update(awaiting_buyer=True)  # as _authorise leaves it
    held_until = Trade.objects.get(pk=trade.pk).next_attempt_at

    settlement._wake_if_awaiting_buyer(batch_id)

    trade.refresh_from_db()
    assert trade.next_attempt_at < held_until
    assert SettlementBatch.objects.get(pk=batch_id).awaiting_buyer is False
    settlement._wake_if_awaiting_buyer(batch_id)  # a second delivery re-arms nothing
    assert Trade.objects.get(pk=trade.pk).next_attempt_at == trade.next_attempt_at


def test_a_poisoned_batch_does_not_stop_the_others(buyer, settings):
    from payments import services as payment_services
    from tests.factories import VerifiedOrganisationFactory

    other = VerifiedOrganisationFactory()
    payment_services.payment_method_save(organisation_id=other.pk, payment_method_id="pm_card_visa")
    poisoned, healthy = bought(buyer, 2000), bought(other, 3000)
    # the poisoned buyer's payment reference is taken by a payment of other terms: settling it fails
    batch_ids = settlement.claim(trade_ids=[poisoned.pk, healthy.pk])
    bad_batch = SettlementBatch.objects.get(trades=poisoned)
    payment_services.payment_authorise(
        reference=bad_batch.payment_reference, organisation_id=buyer.pk, amount=1
    )

    settlement._settle_batches(batch_ids)

    assert Trade.objects.get(pk=healthy.pk).status == Trade.Status.SETTLED
    poisoned.refresh_from_db()
    assert poisoned.status == Trade.Status.PENDING_PAYMENT
    assert poisoned.status_reason.startswith("settlement failed: ")
