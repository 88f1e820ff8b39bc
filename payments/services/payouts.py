"""Payouts: batches, transfers to Connect accounts, reversals, receivables recovery, bank outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum

from core import audit
from core.errors import Conflict, InvalidInput
from payments import ledger, lock_objects, postings
from payments.models import (
    ConnectAccount,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutReversal,
)
from payments.services._common import (
    UnknownStripeObject,
    _check_currency,
    _from_timestamp,
    _get,
    _now,
    _queue_after_commit,
    _required,
    _stripe_message,
    logger,
)
from payments.services.payment_status import operation_transition
from payments.stripe_calls import StripeData, create_once, stripe_id, stripe_reachable
from payments.stripe_client import connect_client

# --- Payouts --------------------------------------------------------------------------------------


def _payout_transition(payout: Payout, to: str, reason: str = "") -> bool:
    """Requires: the payout's row lock."""
    return operation_transition(payout, to, reason, save_all=True)


def _each_seller(what: str, step: Any, seller_ids: Any) -> Iterator[int]:
    """Run a sweep's step per seller; one seller's failure is logged and the others go on (the
    next sweep tries that seller again)."""
    for seller_id in list(seller_ids):
        try:
            yield int(step(seller_id))
        except Exception:  # one seller must not stop the sweep
            logger.exception("%s sweep: seller %s failed; the next sweep retries", what, seller_id)


def payout_sweep(*, currency: str = "EUR") -> int:
    """Batch every payout-enabled seller's payable balance past the threshold into a payout.
    A suspended seller's payouts are held (accounts.services.user_suspend): skipped until
    reinstated; what they earned stays payable."""
    threshold = settings.PAYOUT_THRESHOLD_CENTS
    due = (
        LedgerEntry.objects.filter(
            account__purpose=LedgerAccount.Purpose.SELLER_PAYABLE,
            account__currency=currency,
            account__seller__connect_account__payouts_enabled=True,
            account__seller__suspended_at__isnull=True,
        )
        .values("account__seller_id")
        .annotate(total=Sum("amount"))
        .filter(total__lte=-threshold)
        .order_by("account__seller_id")
        .values_list("account__seller_id", flat=True)[: settings.PAYOUT_SWEEP_BATCH_SIZE]
    )
    return sum(
        _each_seller(
            "payout", lambda seller_id: payout_create(seller_id=seller_id, currency=currency) is not None, due
        )
    )


def payout_create(*, seller_id: int, currency: str = "EUR") -> Payout | None:
    """Write a pending payout of the seller's available payable balance (if past the threshold);
    its transfer is sent after commit. None if there is nothing to pay, one is in flight, or the
    seller is suspended (their payouts are held)."""
    account = ConnectAccount.objects.filter(seller_id=seller_id).select_related("seller").first()
    if account is None or not account.payouts_enabled or not account.stripe_account_id:
        return None
    if account.seller.suspended_at is not None:
        return None
    try:
        with transaction.atomic(durable=True):
            lock_objects.seller_accounts([seller_id], currency)
            books = postings.SellerBooks([seller_id], currency)
            available = books.available[seller_id]
            if available < settings.PAYOUT_THRESHOLD_CENTS:
                return None
            payout = Payout.objects.create(
                seller_id=seller_id, connect_account=account, amount=available, currency=currency
            )
            payout.transfer_group = f"payout:{payout.pk}"
            payout.save(update_fields=["transfer_group"])
            audit.record(
                "payout.created",
                payout,
                reason="payable balance past the threshold",
                changes={"status": ["", payout.status], "amount": payout.amount, "currency": currency},
            )
            from payments import tasks  # here: payments.tasks imports the services

            _queue_after_commit(tasks.payout_transfer, payout.pk)
    except IntegrityError:  # another payout of this seller is waiting for its transfer
        return None
    return payout


def payout_transfer(*, payout_id: int) -> Payout:
    """Send a pending payout's Transfer to the seller's Connect account, then record it."""
    payout = Payout.objects.select_related("connect_account").get(pk=payout_id)
    if payout.status != Payout.Status.PENDING:
        return payout
    api = connect_client().v1
    try:
        transfer = create_once(
            payout,
            lambda: api.transfers.create(
                {
                    "amount": payout.amount,
                    "currency": payout.currency.lower(),
                    "destination": stripe_id(payout.connect_account.stripe_account_id),
                    "transfer_group": payout.transfer_group,
                    "description": f"Courtier earnings, payout {payout.pk}",
                    "metadata": {
                        "courtier_payout_id": str(payout.pk),
                        "courtier_seller_id": str(payout.seller_id),
                    },
                },
                {"idempotency_key": payout.idempotency_key("transfer")},
            ),
            listed=lambda: api.transfers.list(
                {"transfer_group": payout.transfer_group, "limit": 100}
            ).auto_paging_iter(),
            ours=("courtier_payout_id", payout.pk),
        )
    except (stripe.InvalidRequestError, stripe.PermissionError) as exc:
        with transaction.atomic(durable=True):
            locked = lock_objects.payout(payout.pk)
            if locked.status == Payout.Status.PENDING:
                locked.failure_code = (exc.code or "transfer_refused")[:64]
                locked.failure_message = _stripe_message(exc)
                locked.save(update_fields=["failure_code", "failure_message"])
                _payout_transition(locked, Payout.Status.FAILED, locked.failure_message)
        return locked
    return _payout_record_transfer(payout.pk, transfer)


def _payout_record_transfer(payout_id: int, transfer: StripeData) -> Payout:
    payout = Payout.objects.get(pk=payout_id)
    with transaction.atomic(durable=True):
        lock_objects.seller_accounts([payout.seller_id], payout.currency)
        payout = lock_objects.payout(payout_id)
        if payout.transfer_id and payout.transfer_id != transfer["id"]:
            raise Conflict(
                "transfer_mismatch", f"Payout {payout.pk} already has transfer {payout.transfer_id}."
            )
        if int(transfer["amount"]) != payout.amount:
            raise InvalidInput("amount_mismatch", f"Transfer {transfer['id']} is for another amount.")
        _check_currency(payout.currency, _required(transfer, "currency"), what=f"Transfer {transfer['id']}")
        if payout.status == Payout.Status.PENDING:
            payout.transfer_id = transfer["id"]
            payout.transferred_at = _now()
            payout.last_error = ""
            payout.save(update_fields=["transfer_id", "transferred_at", "last_error"])
            postings.post_payout(payout)
            _payout_transition(payout, Payout.Status.IN_TRANSIT, f"transfer {transfer['id']}")
    _sync_reversals(payout.pk, transfer)
    return payout


def payout_sync_transfer(*, transfer_id: str, payout_hint: str | None = None) -> Payout:
    """transfer.created / transfer.reversed: record the transfer and its reversals, once."""
    payout = Payout.objects.filter(transfer_id=transfer_id).first()
    if payout is None and payout_hint and payout_hint.isdigit():
        payout = Payout.objects.filter(pk=int(payout_hint), transfer_id__isnull=True).first()
    if payout is None:
        raise UnknownStripeObject("not_found", f"No payout made transfer {transfer_id}.")
    with stripe_reachable():
        transfer = connect_client().v1.transfers.retrieve(transfer_id)
    if _get(transfer, "destination") != payout.connect_account.stripe_account_id:
        raise Conflict("transfer_mismatch", f"Transfer {transfer_id} went to another account.")
    return _payout_record_transfer(payout.pk, transfer)


def _sync_reversals(payout_id: int, transfer: StripeData) -> None:
    for data in _get(_get(transfer, "reversals", {}), "data", []):
        reversal = PayoutReversal.objects.filter(stripe_reversal_id=data["id"]).first()
        if reversal is None:
            ours = _get(_get(data, "metadata", {}), "courtier_reversal_id")
            if ours and str(ours).isdigit():
                reversal = PayoutReversal.objects.filter(pk=int(ours), payout_id=payout_id).first()
        if reversal is None:  # reversed at Stripe (dashboard): record it like ours
            with transaction.atomic(durable=True):
                payout = Payout.objects.get(pk=payout_id)
                lock_objects.seller_accounts([payout.seller_id], payout.currency)
                lock_objects.payout(payout_id)
                reversal, _created = PayoutReversal.objects.get_or_create(
                    stripe_reversal_id=data["id"],
                    defaults={
                        "payout_id": payout_id,
                        "amount": int(data["amount"]),
                        "currency": payout.currency,
                    },
                )
        _reversal_record(reversal.pk, data)


def _reversal_record(reversal_id: int, data: StripeData) -> PayoutReversal:
    """Money back from the seller's Connect account: Dr stripe_balance / Cr seller (receivable first)."""
    reversal = PayoutReversal.objects.select_related("payout").get(pk=reversal_id)
    payout = reversal.payout
    with transaction.atomic(durable=True):
        lock_objects.seller_accounts([payout.seller_id], payout.currency)
        payout = lock_objects.payout(payout.pk)
        reversal = lock_objects.payout_reversal(reversal_id)
        if reversal.status == PayoutReversal.Status.SUCCEEDED:
            return reversal
        if int(data["amount"]) != reversal.amount:
            raise InvalidInput("amount_mismatch", f"Reversal {data['id']} is for another amount.")
        books = postings.SellerBooks([payout.seller_id], payout.currency)
        lines = [
            ledger.Line(
                postings.platform(LedgerAccount.Purpose.STRIPE_BALANCE, payout.currency), reversal.amount
            )
        ]
        lines += books.credit(payout.seller_id, reversal.amount)
        postings.post(
            LedgerTransaction.Kind.PAYOUT_REVERSAL,
            f"payout:{payout.pk}",
            f"payout_reversal:{reversal.pk}",
            lines,
            f"reversal {data['id']} of transfer {payout.transfer_id}",
        )
        reversal.stripe_reversal_id = data["id"]
        operation_transition(
            reversal, PayoutReversal.Status.SUCCEEDED, f"reversal {data['id']}", save_all=True
        )
        Payout.objects.filter(pk=payout.pk).update(amount_reversed=F("amount_reversed") + reversal.amount)
        payout.refresh_from_db()
        if payout.amount_reversed == payout.amount:
            _payout_transition(payout, Payout.Status.REVERSED, f"reversed by {data['id']}")
    return reversal


def payout_recover(*, seller_id: int, currency: str = "EUR") -> int:
    """Collect what a seller owes (their receivable) by reversing their latest transfers.

    Returns the amount recovered. What cannot be reversed (the money already left their Stripe
    balance) stays a receivable, cleared by their next earnings and shown to moderators.
    """
    recovered = 0
    for _ in range(20):  # one transfer at a time, newest first
        with transaction.atomic(durable=True):
            lock_objects.seller_accounts([seller_id], currency)
            books = postings.SellerBooks([seller_id], currency)
            in_flight = (
                PayoutReversal.objects.filter(
                    payout__seller_id=seller_id, status=PayoutReversal.Status.PENDING
                ).aggregate(t=Sum("amount"))["t"]
                or 0
            )
            owed = books.owed[seller_id] - in_flight
            if owed <= 0:
                return recovered
            candidates = (
                Payout.objects.filter(seller_id=seller_id, currency=currency, transfer_id__isnull=False)
                .exclude(status=Payout.Status.REVERSED)
                .exclude(
                    pk__in=PayoutReversal.objects.filter(status=PayoutReversal.Status.PENDING).values(
                        "payout"
                    )
                )
                .filter(amount__gt=F("amount_reversed"))
                .order_by("-created_at", "-pk")
            )
            # a transfer whose reversal just failed (its money already left Stripe) is not retried
            # before the next sweep
            candidates = candidates.exclude(
                pk__in=PayoutReversal.objects.filter(
                    status=PayoutReversal.Status.FAILED, updated_at__gte=_now() - timedelta(minutes=30)
                ).values("payout")
            )
            payout = candidates.first()
            if payout is None:
                return recovered
            lock_objects.payout(payout.pk)
            reversal = PayoutReversal.objects.create(
                payout=payout, amount=min(owed, payout.amount - payout.amount_reversed), currency=currency
            )
            audit.record(
                "payout_reversal.created",
                reversal,
                reason="recovering what the seller owes",
                changes={"payout": payout.pk, "amount": reversal.amount, "currency": currency},
            )
        result = _reversal_send(reversal)
        if result.status != PayoutReversal.Status.SUCCEEDED:
            continue
        recovered += result.amount
    return recovered


def _reversal_send(reversal: PayoutReversal) -> PayoutReversal:
    payout = reversal.payout
    api = connect_client().v1
    try:
        created = create_once(
            reversal,
            lambda: api.transfers.reversals.create(
                stripe_id(payout.transfer_id),
                {"amount": reversal.amount, "metadata": {"courtier_reversal_id": str(reversal.pk)}},
                {"idempotency_key": reversal.idempotency_key("create")},
            ),
            listed=lambda: api.transfers.reversals.list(
                stripe_id(payout.transfer_id), {"limit": 100}
            ).auto_paging_iter(),
            ours=("courtier_reversal_id", reversal.pk),
        )
    except stripe.InvalidRequestError as exc:  # e.g. the seller's Stripe balance is too low
        with transaction.atomic(durable=True):
            locked = lock_objects.payout_reversal(reversal.pk)
            if locked.status == PayoutReversal.Status.PENDING:
                locked.failure_message = _stripe_message(exc)
                operation_transition(
                    locked, PayoutReversal.Status.FAILED, locked.failure_message, save_all=True
                )
        return locked
    return _reversal_record(reversal.pk, created)


def payout_recover_receivables(*, currency: str = "EUR") -> int:
    """The sweep: try to collect every receivable that a transfer could still cover."""
    owing = (
        LedgerEntry.objects.filter(
            account__purpose=LedgerAccount.Purpose.SELLER_RECEIVABLE, account__currency=currency
        )
        .values("account__seller_id")
        .annotate(total=Sum("amount"))
        .filter(total__gt=0)
        .values_list("account__seller_id", flat=True)
    )
    return sum(
        _each_seller(
            "recover", lambda seller_id: payout_recover(seller_id=seller_id, currency=currency), owing
        )
    )


def payout_bank_outcome(*, stripe_account_id: str, bank_payout: StripeData) -> int:
    """payout.paid / payout.failed on a seller's Connect account: the money reached their bank
    (or came back). Marks their transfers made before that bank payout. Returns how many."""
    account = ConnectAccount.objects.filter(stripe_account_id=stripe_account_id).first()
    if account is None:
        raise UnknownStripeObject("not_found", f"No seller has Connect account {stripe_account_id}.")
    status = _required(bank_payout, "status")
    created = _from_timestamp(_required(bank_payout, "created"))
    changed = 0
    with transaction.atomic(durable=True):
        if status == "paid":
            payouts = Payout.objects.filter(
                connect_account=account,
                status=Payout.Status.IN_TRANSIT,
                transferred_at__lte=created + timedelta(seconds=1),
            )
            for payout in lock_objects.payouts(payouts):
                payout.stripe_payout_id = bank_payout["id"]
                payout.save(update_fields=["stripe_payout_id"])
                changed += _payout_transition(payout, Payout.Status.PAID, f"bank payout {bank_payout['id']}")
        elif status == "failed":
            payouts = Payout.objects.filter(connect_account=account).filter(
                Q(stripe_payout_id=bank_payout["id"])
                | Q(status=Payout.Status.IN_TRANSIT, transferred_at__lte=created + timedelta(seconds=1))
            )
            for payout in lock_objects.payouts(payouts):
                payout.stripe_payout_id = bank_payout["id"]
                payout.failure_code = str(_get(bank_payout, "failure_code", "payout_failed"))[:64]
                payout.failure_message = str(
                    _get(
                        bank_payout,
                        "failure_message",
                        "Your bank returned the payout: update your bank details.",
                    )
                )[:500]
                payout.save(update_fields=["stripe_payout_id", "failure_code", "failure_message"])
                changed += _payout_transition(payout, Payout.Status.FAILED, payout.failure_message)
    return changed
