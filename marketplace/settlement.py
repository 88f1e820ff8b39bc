"""Settlement of trades by Celery workers (queue `settlement`).

A trade moves pending_payment → paid → delivered → settled. Workers settle *batches*: the trades
of one buyer organisation that are due when a worker claims them share one authorisation, one
capture and one ledger credit (under load one Stripe round trip serves many trades; alone, a
trade is a batch of one). Each step is a short transaction; every Stripe call is made between
transactions, never under a lock:

1. claim: lock due trades (SKIP LOCKED), bump their attempt, push next_attempt_at; new trades of
   one organisation join a new batch whose authorised amount is fixed now, after dropping the
   lines whose consent is gone; commit;
2. authorise the batch on the buyer's saved card (idempotent by the batch) → its trades paid, or
   payment_failed (a decline is final), or left waiting (requires_action, told through the API);
3. deliver: lock the sellers' consent grants, then the trades and their lines; re-check consent
   line by line; grant access for the lines still consented, void the others → delivered, or
   voided when nothing is left;
4. capture exactly the delivered lines (cancel the authorisation when none is), credit each
   seller's share less the platform fee in the ledger → settled.

The batches of one claim are each authorised and delivered in turn, then captured, so the
buyers' access comes first. Every step is idempotent (keys
derived from the batch), so a lost message or a killed worker only delays a trade: the beat
sweep re-drives trades whose next_attempt_at has passed.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import lock_objects as account_locks
from accounts.models import BuyerOrganisation, ConsentGrant
from accounts.selectors import consent_valid_q
from core.locks import claim_rows
from listings import lock_objects as listing_locks
from listings.models import Listing
from listings.services import listings_sold_locked
from marketplace import lock_objects, payments_port
from marketplace.models import AccessGrant, SettlementBatch, Trade, TradeLine
from marketplace.services import access_revoke, trade_lines_transition, trade_transition, trades_transition

logger = logging.getLogger(__name__)
IN_PROGRESS = (Trade.Status.PENDING_PAYMENT, Trade.Status.PAID, Trade.Status.DELIVERED)


def _consented(lines: list[TradeLine], purposes: dict[int, str], at) -> set[int]:
    """Ids of the lines whose seller consents at `at` to every category of the line for its
    trade's purpose: one query for the whole batch (what consent_is_valid says, line by line)."""
    valid = set(
        ConsentGrant.objects.filter(seller_id__in={line.seller_id for line in lines})
        .filter(consent_valid_q(at))
        .values_list("seller_id", "category", "purpose")
    )
    return {
        line.pk
        for line in lines
        if all((line.seller_id, category, purposes[line.trade_id]) in valid for category in line.categories)
    }


def _void_lines_without_consent(trades: list[Trade]) -> None:
    now = timezone.now()
    purposes = {t.pk: t.purpose for t in trades}
    lines = lock_objects.trade_lines(
        TradeLine.objects.filter(trade__in=trades, status=TradeLine.Status.PENDING)
    )
    kept = _consented(lines, purposes, now)
    trade_lines_transition(
        [line for line in lines if line.pk not in kept],
        TradeLine.Status.VOIDED,
        reason="consent gone before settlement",
    )


def _pending_amounts(trade_ids: list[int]) -> dict[int, int]:
    rows = (
        TradeLine.objects.filter(trade_id__in=trade_ids, status=TradeLine.Status.PENDING)
        .values("trade_id")
        .annotate(total=Sum("price_cents"))
    )
    return {row["trade_id"]: row["total"] for row in rows}


def claim(*, trade_ids: list[int] | None = None, limit: int | None = None) -> list[int]:
    """Claim due trades (new ones are due at once) and batch the new ones per organisation;
    returns the ids of the batches to drive. A claimed trade is not due again until
    SETTLEMENT_RETRY_AFTER_SECONDS have passed, so two workers never drive it at once."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        trades = Trade.objects.filter(status__in=IN_PROGRESS)
        if trade_ids is not None:
            trades = trades.filter(pk__in=trade_ids)
        trades = trades.filter(next_attempt_at__lte=now)
        claimed = claim_rows(trades, limit=limit or settings.SETTLEMENT_BATCH_SIZE)
        # Only the trades of the first few organisations (oldest trade first): the others stay
        # due, unlocked at commit, for another worker, so workers drive different buyers at once
        # instead of one worker taking every buyer's batch in turn.
        organisations = list(dict.fromkeys(t.organisation_id for t in claimed))
        kept_organisations = set(organisations[: settings.SETTLEMENT_ORGANISATIONS_PER_CLAIM])
        claimed = [t for t in claimed if t.organisation_id in kept_organisations]
        if not claimed:
            return []
        retry_at = now + timedelta(seconds=settings.SETTLEMENT_RETRY_AFTER_SECONDS)
        Trade.objects.filter(pk__in=[t.pk for t in claimed]).update(
            attempts=F("attempts") + 1, next_attempt_at=retry_at
        )
        batch_ids = {t.batch_id for t in claimed if t.batch_id is not None}
        SettlementBatch.objects.filter(pk__in=batch_ids, awaiting_buyer=True).update(awaiting_buyer=False)
        fresh: dict[tuple[int, str, int], list[Trade]] = defaultdict(list)
        for trade in claimed:
            if trade.batch_id is None:
                fresh[(trade.organisation_id, trade.currency, trade.fee_bps)].append(trade)
        for (organisation_id, currency, _fee), group in fresh.items():
            _void_lines_without_consent(group)
            amounts = _pending_amounts([t.pk for t in group])
            trades_transition(
                [t for t in group if not amounts.get(t.pk)], Trade.Status.VOIDED, "no line kept its consent"
            )
            kept = [t for t in group if amounts.get(t.pk)]
            if not kept:
                continue
            batch = SettlementBatch.objects.create(
                organisation_id=organisation_id,
                currency=currency,
                authorised_cents=sum(amounts[t.pk] for t in kept),
            )
            Trade.objects.filter(pk__in=[t.pk for t in kept]).update(batch=batch)
            batch_ids.add(batch.pk)
    return sorted(batch_ids)


def _batch_trades(batch: SettlementBatch, status: str) -> list[Trade]:
    return lock_objects.trades(Trade.objects.filter(batch=batch, status=status))


def _authorise(batch: SettlementBatch) -> None:
    if not Trade.objects.filter(batch=batch, status=Trade.Status.PENDING_PAYMENT).exists():
        return
    outcome = payments_port.authorise(batch=batch)  # a Stripe call: no lock held
    deadline = timezone.now() - timedelta(minutes=settings.SETTLEMENT_AUTHORISATION_DEADLINE_MINUTES)
    overdue = False
    with transaction.atomic(durable=True):
        trades = _batch_trades(batch, Trade.Status.PENDING_PAYMENT)
        if outcome.authorised:
            trades_transition(trades, Trade.Status.PAID, "payment authorised")
        elif outcome.final:
            trades_transition(trades, Trade.Status.PAYMENT_FAILED, outcome.reason[:200])
        elif trades and min(t.created_at for t in trades) <= deadline:
            # the buyer never completed the authentication: held listings go back on the market
            trades_transition(trades, Trade.Status.PAYMENT_FAILED, "not authorised before the deadline")
            overdue = True
        else:  # requires_action: the buyer is told through the API; their outcome (or the sweep) wakes it
            Trade.objects.filter(pk__in=[t.pk for t in trades]).update(status_reason=outcome.reason[:200])
            SettlementBatch.objects.filter(pk=batch.pk).update(awaiting_buyer=True)
    if overdue:
        payments_port.cancel(batch=batch)  # release the buyer's pending authorisation


def _deliver(batch: SettlementBatch) -> None:
    seller_ids = TradeLine.objects.filter(trade__batch=batch, trade__status=Trade.Status.PAID).values_list(
        "seller_id", flat=True
    )
    if not seller_ids:
        return
    with transaction.atomic(durable=True):
        account_locks.consent_grants_active_of_sellers(
            set(seller_ids)
        )  # a revocation waits for us, or we see it
        now = timezone.now()
        trades = {t.pk: t for t in _batch_trades(batch, Trade.Status.PAID)}
        lines = lock_objects.trade_lines(
            TradeLine.objects.filter(trade__in=trades, status=TradeLine.Status.PENDING)
        )
        # checked again here, like consent: a trade bought (or an auction won) as its
        # organisation was being suspended delivers nothing (marketplace.services.suspension)
        suspended = BuyerOrganisation.objects.filter(
            pk=batch.organisation_id, suspended_at__isnull=False
        ).exists()
        kept = set() if suspended else _consented(lines, {pk: t.purpose for pk, t in trades.items()}, now)
        AccessGrant.objects.bulk_create(
            AccessGrant(
                organisation_id=trades[line.trade_id].organisation_id,
                seller_id=line.seller_id,
                trade_line=line,
                categories_mask=line.categories_mask,
                purpose=trades[line.trade_id].purpose,
                starts_at=now,
                ends_at=now + timedelta(days=trades[line.trade_id].licence_days),
            )
            for line in lines
            if line.pk in kept
        )
        trade_lines_transition([line for line in lines if line.pk in kept], TradeLine.Status.DELIVERED)
        trade_lines_transition(
            [line for line in lines if line.pk not in kept],
            TradeLine.Status.VOIDED,
            reason="organisation suspended" if suspended else "consent gone at delivery",
        )
        delivered: dict[int, int] = defaultdict(int)
        for line in lines:
            if line.pk in kept:
                delivered[line.trade_id] += 1
        by_count: dict[int, list[Trade]] = defaultdict(list)
        for trade in trades.values():
            by_count[delivered[trade.pk]].append(trade)
        for count, group in sorted(by_count.items()):
            if count:
                trades_transition(group, Trade.Status.DELIVERED, f"access granted for {count} records")
            else:
                trades_transition(
                    group,
                    Trade.Status.VOIDED,
                    "organisation suspended" if suspended else "no line kept its consent",
                )


def _capture_and_credit(batch: SettlementBatch) -> None:
    if Trade.objects.filter(
        batch=batch, status__in=[Trade.Status.PENDING_PAYMENT, Trade.Status.PAID]
    ).exists():
        return  # not every trade of the batch is past delivery yet
    shares: dict[int, int] = defaultdict(int)
    for seller_id, price in TradeLine.objects.filter(
        trade__batch=batch, trade__status=Trade.Status.DELIVERED, status=TradeLine.Status.DELIVERED
    ).values_list("seller_id", "price_cents"):
        shares[seller_id] += price
    amount = sum(shares.values())
    if amount == 0:
        if Trade.objects.filter(batch=batch, status=Trade.Status.SETTLED).exists():
            return
        payments_port.cancel(batch=batch)  # nothing was delivered: nothing is charged
        return
    payments_port.capture(batch=batch, amount=amount)  # a Stripe call: no lock held
    with transaction.atomic(durable=True):
        held = listing_locks.listings(
            Listing.objects.filter(
                pk__in=Trade.objects.filter(batch=batch, status=Trade.Status.DELIVERED).values("listing_id"),
                status=Listing.Status.HELD,
            )
        )  # before the trades: the system's lock order
        trades = _batch_trades(batch, Trade.Status.DELIVERED)
        if not trades:
            return
        payments_port.credit_sellers(
            batch=batch, seller_shares=sorted(shares.items()), fee_bps=trades[0].fee_bps
        )
        delivered = (
            TradeLine.objects.filter(trade=OuterRef("pk"), status=TradeLine.Status.DELIVERED)
            .values("trade")
            .annotate(total=Sum("price_cents"))
            .values("total")
        )
        Trade.objects.filter(pk__in=[t.pk for t in trades]).update(
            charged_cents=Coalesce(Subquery(delivered), 0)
        )
        trades_transition(trades, Trade.Status.SETTLED, "captured and credited")
        listings_sold_locked([listing.pk for listing in held], reason="sold: payment captured")


def _settle_batches(batch_ids: list[int]) -> None:
    """Drive batches as far as they go now: each batch authorised and delivered in turn, then
    every capture. A claim holds one batch per buyer organisation; a buyer's access waits for
    the batches before theirs to be authorised and delivered, not captured and credited."""
    batches = list(SettlementBatch.objects.filter(pk__in=batch_ids).order_by("pk"))
    delivered = [batch for batch in batches if _drive(batch, _authorise, _deliver)]
    for batch in delivered:
        _drive(batch, _capture_and_credit)


def _drive(batch: SettlementBatch, *steps) -> bool:
    """Run the steps on the batch; False when one could not finish. A failing batch is its own
    affair: its error is kept on its trades, the other batches go on, and the sweep retries it
    once its claim lapses."""
    try:
        for step in steps:
            step(batch)
    except payments_port.PaymentUnavailable:
        logger.warning("settlement batch %s: payment provider unavailable; the sweep will retry", batch.pk)
        return False
    except Exception as exc:  # one poisoned batch must not stop the others
        logger.exception("settlement batch %s failed; the sweep will retry it", batch.pk)
        Trade.objects.filter(batch=batch, status__in=IN_PROGRESS).update(
            status_reason=f"settlement failed: {exc}"[:200]
        )
        return False
    return True


def trades_settle(*, trade_ids: list[int]) -> int:
    """Claim these trades (those not already claimed elsewhere), settle them; count settled."""
    _settle_batches(claim(trade_ids=trade_ids))
    return Trade.objects.filter(pk__in=trade_ids, status=Trade.Status.SETTLED).count()


def trades_settle_due(*, batch_size: int | None = None, seconds: float | None = None) -> int:
    """Claim due in-progress trades (batched per organisation) and drive them, claim after claim
    while some are due, until `seconds` (SETTLEMENT_DRAIN_SECONDS) have passed; 0 seconds is one
    claim. Returns how many of the claimed trades are settled."""
    settled = 0
    budget = settings.SETTLEMENT_DRAIN_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + budget
    while True:
        batch_ids = claim(limit=batch_size)
        if not batch_ids:
            return settled
        _settle_batches(batch_ids)
        settled += Trade.objects.filter(batch_id__in=batch_ids, status=Trade.Status.SETTLED).count()
        if time.monotonic() >= deadline:
            return settled


# --- Outcomes reported later by payments (webhooks: 3-D Secure done, refunds, chargebacks) -----

BATCH_PREFIX = "settlement-batch:"
CAPTURED_STATUSES = ("captured", "partially_refunded")


def _outcome_trade_status(outcome) -> str | None:
    """The trade status a payment outcome leads to, or None when settlement itself moves the
    trades. A capture is not one of them: settlement credits the sellers and settles the trades
    in one transaction (`_capture_and_credit`), whoever finished the capture."""
    if outcome.status in ("refunded", "dispute_lost"):  # charged back: the money went back
        return Trade.Status.REFUNDED
    if outcome.status == "disputed":
        return Trade.Status.DISPUTED
    if outcome.previous_status == "disputed" and outcome.status in CAPTURED_STATUSES:
        return Trade.Status.SETTLED  # the dispute closed in our favour
    return None


def on_payment_outcome(outcome) -> None:
    """Registered with payments.handlers; idempotent (a redelivered outcome finds nothing to do).

    A payment the buyer authorised later (3-D Secure done) re-drives its trades now, if no worker
    holds them. A refund or a lost chargeback ends the trades' licences: access is revoked and the
    buyer gets a deletion notice; a dispute marks them disputed until it closes.
    """
    if not outcome.reference.startswith(BATCH_PREFIX):
        return
    batch_id = int(outcome.reference.removeprefix(BATCH_PREFIX))
    if outcome.status in ("authorised", "failed", "canceled"):
        _wake_if_awaiting_buyer(batch_id)
        return
    target = _outcome_trade_status(outcome)
    if target is None:
        return
    with transaction.atomic(durable=True):
        for trade in lock_objects.trades(Trade.objects.filter(batch_id=batch_id)):
            if target not in Trade.TRANSITIONS[trade.status]:
                continue  # already there, or not settled: nothing to do
            trade_transition(trade, target, f"payment {outcome.status}")
            if target == Trade.Status.REFUNDED:
                _end_access(trade, reason="refunded")


def _wake_if_awaiting_buyer(batch_id: int) -> None:
    """Re-drive a batch that settlement left waiting for the buyer (requires_action). A batch a
    worker holds is not waiting (claim clears the flag), so nothing is driven twice at once."""
    from marketplace.tasks import trades_settle

    with transaction.atomic(durable=True):
        if not SettlementBatch.objects.filter(pk=batch_id, awaiting_buyer=True).update(awaiting_buyer=False):
            return
        due = list(
            Trade.objects.filter(batch_id=batch_id, status=Trade.Status.PENDING_PAYMENT).values_list(
                "pk", flat=True
            )
        )
        Trade.objects.filter(pk__in=due).update(next_attempt_at=timezone.now())
        if due:
            trades_settle.delay_on_commit()  # type: ignore[attr-defined]  # a DjangoTask; stubs: Task


def _end_access(trade: Trade, *, reason: str) -> None:
    """Requires: the trade locked. Revokes its active grants; one deletion notice per seller."""
    grants = lock_objects.access_grants(
        AccessGrant.objects.filter(trade_line__trade=trade, status=AccessGrant.Status.ACTIVE)
    )
    access_revoke(grants, reason=reason, notice_reason=reason)
