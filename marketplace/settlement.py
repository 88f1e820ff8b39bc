"""Settlement of trades by Celery workers (queue `settlement`).

A trade moves pending_payment → paid → delivered → settled, one step per short transaction,
with every Stripe call made between transactions, never under a lock:

1. claim: lock the trade (SKIP LOCKED), bump its attempt and push next_attempt_at, commit;
2. pending_payment: drop lines whose consent is gone; authorise the sum of the rest with the
   buyer's saved card (idempotency key from the trade id) → paid, or payment_failed;
3. paid: lock the sellers' consent grants, the trade and its lines; re-check consent line by
   line; grant access for the lines still consented, void the others → delivered (or voided,
   and the authorisation is cancelled);
4. delivered: capture exactly the delivered lines; post the capture and each seller's share
   (price minus the platform fee) in the ledger → settled.

Each step is idempotent (keys derived from the trade id), so a lost message or a killed worker
only delays a trade: the sweep re-drives trades whose next_attempt_at has passed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.selectors import consent_is_valid
from marketplace import lock_objects, payments_port
from marketplace.models import AccessGrant, Trade, TradeLine
from marketplace.services import trade_transition

logger = logging.getLogger(__name__)
S = Trade.Status
IN_PROGRESS = (S.PENDING_PAYMENT, S.PAID, S.DELIVERED)


def _line_consented(line: TradeLine, purpose: str, at) -> bool:
    return all(consent_is_valid(line.seller_id, category, purpose, at) for category in line.categories)


def _claim(trade_id: int, *, force: bool) -> Trade | None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        trades = Trade.objects.select_for_update(skip_locked=True).filter(pk=trade_id, status__in=IN_PROGRESS)
        if force:  # the first run right after the trade commits; any retry waits its turn
            trades = trades.filter(Q(attempts=0) | Q(next_attempt_at__lte=now))
        else:
            trades = trades.filter(next_attempt_at__lte=now)
        trade = trades.first()
        if trade is None:
            return None
        trade.attempts += 1
        trade.next_attempt_at = now + timedelta(seconds=settings.SETTLEMENT_RETRY_AFTER_SECONDS)
        trade.save(update_fields=["attempts", "next_attempt_at"])
    return trade


def _void_lines_without_consent(trade: Trade) -> int:
    """Drop pending lines whose consent is gone; returns the amount of the remaining lines."""
    now = timezone.now()
    gone = [
        line.pk
        for line in TradeLine.objects.filter(trade=trade, status=TradeLine.Status.PENDING)
        if not _line_consented(line, trade.purpose, now)
    ]
    if gone:
        TradeLine.objects.filter(pk__in=gone, status=TradeLine.Status.PENDING).update(
            status=TradeLine.Status.VOIDED, status_reason="consent gone before settlement"
        )
    return sum(
        TradeLine.objects.filter(trade=trade, status=TradeLine.Status.PENDING).values_list(
            "price_cents", flat=True
        )
    )


def _locked_trade(trade_id: int) -> Trade:
    (trade,) = lock_objects.trades(Trade.objects.filter(pk=trade_id))
    return trade


def _step_authorise(trade: Trade) -> None:
    amount = _void_lines_without_consent(trade)
    if amount == 0:
        with transaction.atomic(durable=True):
            trade = _locked_trade(trade.pk)
            if trade.status == S.PENDING_PAYMENT:
                trade_transition(trade, S.VOIDED, "no line kept its consent")
        return
    outcome = payments_port.authorise(trade=trade, amount=amount)  # a Stripe call: no lock held
    with transaction.atomic(durable=True):
        trade = _locked_trade(trade.pk)
        if trade.status != S.PENDING_PAYMENT:
            return
        if outcome.authorised:
            trade_transition(trade, S.PAID, "payment authorised")
        elif outcome.final:
            trade_transition(trade, S.PAYMENT_FAILED, outcome.reason)
        else:  # e.g. requires_action: the buyer is told through the API; retried by the sweep
            trade.status_reason = outcome.reason
            trade.save(update_fields=["status_reason"])


def _step_deliver(trade: Trade) -> None:
    seller_ids = list(TradeLine.objects.filter(trade=trade).values_list("seller_id", flat=True))
    with transaction.atomic(durable=True):
        lock_objects.consent_grants_of_sellers(seller_ids)  # a revocation now waits for us, or we see it
        trade = _locked_trade(trade.pk)
        if trade.status != S.PAID:
            return
        now = timezone.now()
        delivered = 0
        for line in lock_objects.trade_lines(
            TradeLine.objects.filter(trade=trade, status=TradeLine.Status.PENDING)
        ):
            if _line_consented(line, trade.purpose, now):
                AccessGrant.objects.create(
                    organisation_id=trade.organisation_id,
                    seller_id=line.seller_id,
                    trade_line=line,
                    categories_mask=line.categories_mask,
                    purpose=trade.purpose,
                    starts_at=now,
                    ends_at=now + timedelta(days=trade.licence_days),
                )
                line.status = TradeLine.Status.DELIVERED
                delivered += 1
            else:
                line.status, line.status_reason = TradeLine.Status.VOIDED, "consent gone at delivery"
            line.save(update_fields=["status", "status_reason"])
        if delivered:
            trade_transition(trade, S.DELIVERED, f"access granted for {delivered} records")
        else:
            trade_transition(trade, S.VOIDED, "no line kept its consent")
    if not delivered:
        payments_port.cancel(trade=trade)


def _step_capture(trade: Trade) -> None:
    lines = list(
        TradeLine.objects.filter(trade=trade, status=TradeLine.Status.DELIVERED).values_list(
            "seller_id", "price_cents"
        )
    )
    amount = sum(price for _seller, price in lines)
    payments_port.capture(trade=trade, amount=amount)  # a Stripe call: no lock held
    with transaction.atomic(durable=True):
        trade = _locked_trade(trade.pk)
        if trade.status != S.DELIVERED:
            return
        payments_port.credit_sellers(trade=trade, seller_shares=lines)
        trade.charged_cents = amount
        trade.save(update_fields=["charged_cents"])
        trade_transition(trade, S.SETTLED, "captured and credited")


def trade_settle(*, trade_id: int, force: bool = False) -> str | None:
    """Drive one trade as far as it goes now; returns its status (None if not claimable)."""
    trade = _claim(trade_id, force=force)
    if trade is None:
        return None
    try:
        if trade.status == S.PENDING_PAYMENT:
            _step_authorise(trade)
            trade.refresh_from_db()
        if trade.status == S.PAID:
            _step_deliver(trade)
            trade.refresh_from_db()
        if trade.status == S.DELIVERED:
            _step_capture(trade)
            trade.refresh_from_db()
    except payments_port.PaymentUnavailable:
        logger.warning("trade %s: payment provider unavailable; the sweep will retry", trade_id)
    return trade.status


def trades_settle(*, trade_ids: list[int], force: bool = True) -> int:
    return sum(trade_settle(trade_id=trade_id, force=force) == S.SETTLED for trade_id in trade_ids)


def trades_settle_due(*, batch_size: int | None = None) -> int:
    """The sweep: re-drive every in-progress trade whose next attempt is due."""
    batch_size = batch_size or settings.SETTLEMENT_BATCH_SIZE
    due = list(
        Trade.objects.filter(status__in=IN_PROGRESS, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    return trades_settle(trade_ids=due, force=False)
