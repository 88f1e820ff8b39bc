"""Trades settled by workers: charged once, delivered only under consent, never charged without
delivery, re-driven when a step is lost."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts import services as account_services
from accounts.models import ConsentGrant
from marketplace import services, settlement
from marketplace.models import AccessGrant, DeletionNotice, SettlementBatch, Trade, TradeLine
from payments import ledger
from payments.models import LedgerTransaction, Payment
from tests.marketplace.conftest import active_listing
from tests.marketplace.settlement.conftest import settle_trade

pytestmark = pytest.mark.django_db(transaction=True)


def bought(buyer, floor: int = 2000) -> Trade:
    listing = active_listing(pricing_mode="fixed", floor=floor)
    bid = services.bid_place(organisation=buyer, listing_public_id=listing.public_id)
    return Trade.objects.get(bid=bid)


def intents_at_stripe(stripe_api, buyer) -> list:
    customer = buyer.stripe_customer.stripe_customer_id  # localstripe cannot filter by customer
    return [i for i in stripe_api.v1.payment_intents.list({"limit": 100}).data if i.customer == customer]


def test_a_trade_is_charged_once_credited_and_delivered(buyer, stripe_api, settings):
    settings.PLATFORM_FEE_BPS = 1500
    trade = bought(buyer, floor=2000)

    assert settle_trade(trade.pk) == Trade.Status.SETTLED

    trade.refresh_from_db()
    line = TradeLine.objects.get(trade=trade)
    grant = AccessGrant.objects.get(trade_line=line)
    assert trade.charged_cents == 2000 and line.status == "delivered" and grant.status == "active"
    assert (grant.ends_at - grant.starts_at).days == trade.licence_days
    payment = Payment.objects.get(reference=trade.batch.payment_reference)
    assert payment.status == Payment.Status.CAPTURED and payment.amount_captured == 2000
    assert ledger.seller_payable(line.seller_id) == 1700  # 2000 less a 15 % fee
    assert ledger.unbalanced_transactions() == []
    (intent,) = intents_at_stripe(stripe_api, buyer)
    assert intent.status == "succeeded" and intent.amount == 2000
    assert list(trade.events.values_list("to_status", flat=True)) == [
        "pending_payment",
        "paid",
        "delivered",
        "settled",
    ]
    # settling again changes nothing
    assert settle_trade(trade.pk) == Trade.Status.SETTLED
    assert len(intents_at_stripe(stripe_api, buyer)) == 1
    assert LedgerTransaction.objects.filter(kind="settlement").count() == 1


def test_two_workers_settling_the_same_trade_settle_and_charge_it_once(buyer, stripe_api):
    trade = bought(buyer)
    barrier = threading.Barrier(2)
    results: list[str | None] = []

    def work():
        try:
            barrier.wait()
            results.append(settle_trade(trade.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED
    assert "settled" in results
    assert len(intents_at_stripe(stripe_api, buyer)) == 1
    assert LedgerTransaction.objects.filter(kind="settlement").count() == 1
    assert AccessGrant.objects.filter(trade_line__trade=trade).count() == 1


def revoke_all(seller_id: int) -> None:
    from accounts.models import User

    seller = User.objects.get(pk=seller_id)
    for grant in ConsentGrant.objects.filter(seller=seller, status="active"):
        account_services.consent_revoke(seller=seller, grant_id=grant.pk)


def test_consent_revoked_before_settlement_nothing_is_charged(buyer, stripe_api):
    trade = bought(buyer)
    revoke_all(trade.lines.get().seller_id)

    settle_trade(trade.pk)

    trade.refresh_from_db()
    assert trade.status == Trade.Status.VOIDED
    assert trade.lines.get().status == "voided"
    assert intents_at_stripe(stripe_api, buyer) == []
    assert not AccessGrant.objects.exists() and not Payment.objects.exists()


def test_consent_revoked_between_authorisation_and_delivery_is_never_delivered_nor_captured(
    buyer, stripe_api
):
    trade = bought(buyer)
    (batch_id,) = settlement.claim(trade_ids=[trade.pk])
    batch = SettlementBatch.objects.get(pk=batch_id)
    settlement._authorise(batch)
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.PAID

    revoke_all(trade.lines.get().seller_id)  # the unsettled line is voided by the cascade
    settlement._deliver(batch)
    settlement._capture_and_credit(batch)

    trade.refresh_from_db()
    assert trade.status == Trade.Status.VOIDED
    assert not AccessGrant.objects.exists()
    (intent,) = intents_at_stripe(stripe_api, buyer)
    assert intent.status == "canceled"
    assert Payment.objects.get(reference=batch.payment_reference).status == Payment.Status.CANCELED
    assert not LedgerTransaction.objects.filter(kind="settlement").exists()


def test_consent_revoked_after_settlement_reaches_the_buyer(buyer):
    trade = bought(buyer)
    settle_trade(trade.pk)
    seller_id = trade.lines.get().seller_id

    revoke_all(seller_id)

    grant = AccessGrant.objects.get(trade_line__trade=trade)
    assert grant.status == "revoked" and grant.revoked_at is not None
    notice = DeletionNotice.objects.get(organisation=buyer, seller_id=seller_id)
    assert notice.status == "sent" and (notice.deadline - notice.created_at).days == 30
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED  # delivered, so rightly charged


def test_a_declined_card_fails_the_trade_without_delivery(buyer_with_card, stripe_api):
    buyer = buyer_with_card("4000000000000341")  # attaches, then declines every charge
    trade = bought(buyer)

    settle_trade(trade.pk)

    trade.refresh_from_db()
    assert trade.status == Trade.Status.PAYMENT_FAILED and trade.status_reason
    assert not AccessGrant.objects.exists()
    assert not LedgerTransaction.objects.filter(kind="settlement").exists()


def test_trades_of_one_buyer_due_together_share_one_payment(buyer, stripe_api, settings):
    settings.PLATFORM_FEE_BPS = 1000
    trades = [bought(buyer, floor=1000 + i) for i in range(5)]

    assert settlement.trades_settle(trade_ids=[t.pk for t in trades]) == 5

    (intent,) = intents_at_stripe(stripe_api, buyer)
    assert intent.amount == sum(1000 + i for i in range(5)) and intent.status == "succeeded"
    assert (
        len(set(Trade.objects.filter(pk__in=[t.pk for t in trades]).values_list("batch_id", flat=True))) == 1
    )
    for i, trade in enumerate(trades):
        trade.refresh_from_db()
        assert trade.charged_cents == 1000 + i
        assert ledger.seller_payable(trade.lines.get().seller_id) == money_share(1000 + i, 1000)
    assert ledger.unbalanced_transactions() == []


def money_share(price: int, bps: int) -> int:
    from payments.money import fee_split

    return fee_split(price, bps).seller_share


def test_the_sweep_redrives_a_trade_whose_message_was_lost(buyer):
    from datetime import timedelta

    from django.utils import timezone

    trade = bought(buyer)
    # the task was lost after the claim: the trade sits claimed with a future retry time
    settlement.claim(trade_ids=[trade.pk])
    assert settlement.trades_settle_due() == 0  # not due yet
    Trade.objects.filter(pk=trade.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert settlement.trades_settle_due() == 1

    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED


def test_a_full_refund_ends_the_licence_and_tells_the_buyer_to_delete(buyer):
    from payments import services as payment_services
    from payments.tasks import payment_outcomes_deliver

    trade = bought(buyer)
    settle_trade(trade.pk)
    trade.refresh_from_db()
    payment = Payment.objects.get(reference=trade.batch.payment_reference)

    payment_services.payment_refund(payment_id=payment.pk, reason="requested_by_customer")
    payment_outcomes_deliver()  # what the worker does after commit (tasks are not eager here)
    payment_outcomes_deliver()  # delivered twice: nothing more happens

    trade.refresh_from_db()
    assert trade.status == Trade.Status.REFUNDED
    assert AccessGrant.objects.get(trade_line__trade=trade).status == "revoked"
    assert DeletionNotice.objects.filter(organisation=buyer, reason="refunded").count() == 1
    assert ledger.seller_payable(trade.lines.get().seller_id) == 0


def test_settled_prices_feed_the_valuation(buyer):
    from django.core.cache import cache

    from listings import valuation

    cache.clear()
    trade = bought(buyer, floor=3000)  # demographics + location: 1,500 each
    settle_trade(trade.pk)

    factors = valuation.category_valuation("location")["factors"]

    assert factors["median_clearing_price_cents_30d"] == 1500 and factors["trades_in_30d"] == 1
