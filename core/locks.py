"""The system's one lock order, and the one helper every `<app>/lock_objects.py` locks rows with.

Rows of these models are locked in this order, and never the other way round, in any
transaction that locks more than one of them:

    ConsentGrant → Listing → Bid → Trade → TradeLine → AccessGrant → Payment → Payout

A consent revocation locks the seller's grants and then cascades down (listings paused, bids
cancelled, trade lines voided, access revoked); settlement and bidding lock the grants they rely
on first for the same reason, so the two wait for each other instead of deadlocking. Payments
know nothing of trades and come last. Rows of other models (a seller's profile, a ledger
account, a refund) are locked after the ranked rows they depend on; `payments/lock_objects.py`
documents the order inside payments.

`lock_rows` is the one way to lock: it orders by primary key, locks only the queryset's own table
(`of=("self",)`), evaluates the queryset, and inside a durable transaction (a top-level
service, STYLE.md 4) refuses to lock a model ranked before one already locked there.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import QuerySet

LOCK_ORDER: tuple[str, ...] = (
    "accounts.ConsentGrant",
    "listings.Listing",
    "marketplace.Bid",
    "marketplace.Trade",
    "marketplace.TradeLine",
    "marketplace.AccessGrant",
    "payments.Payment",
    "payments.Payout",
)
LOCK_RANK: dict[str, int] = {label: rank for rank, label in enumerate(LOCK_ORDER)}

M = TypeVar("M", bound=models.Model)
ClaimedRow = TypeVar("ClaimedRow")  # what a claim returns: model rows, or a values_list's tuples


class LockOrderViolation(RuntimeError):
    """A transaction locked a model ranked before one it already holds: a deadlock in waiting."""


def _durable_block() -> Any | None:
    """The durable atomic block of the current transaction (a top-level service), if any."""
    return next((block for block in connection.atomic_blocks if getattr(block, "durable", False)), None)


def _check_order(label: str) -> None:
    rank = LOCK_RANK.get(label)
    block = _durable_block()
    if rank is None or block is None:
        return
    held: dict[str, int] = block.__dict__.setdefault("_locked_ranks", {})
    later = [other for other, other_rank in held.items() if other_rank > rank]
    if later:
        raise LockOrderViolation(
            f"{label} locked after {', '.join(sorted(later))}: the lock order is {' → '.join(LOCK_ORDER)}."
        )
    held[label] = rank


def lock_rows(queryset: QuerySet[M], *, skip_locked: bool = False) -> list[M]:
    """Lock the queryset's rows in primary-key order (its own table only) and return them.

    Requires: an open transaction."""
    _check_order(queryset.model._meta.label)
    return list(queryset.select_for_update(of=("self",), skip_locked=skip_locked).order_by("pk"))


def claim_rows(
    queryset: QuerySet[Any, ClaimedRow], *, limit: int, order_by: tuple[str, ...] = ("pk",)
) -> list[ClaimedRow]:
    """A sweep's claim: up to `limit` rows in `order_by` order that no other worker holds, locked
    (its own table only). Claims lock one model at a time, so they take no part in the order check.

    Requires: an open transaction."""
    return list(queryset.select_for_update(of=("self",), skip_locked=True).order_by(*order_by)[:limit])


def lock_row(queryset: QuerySet[M]) -> M | None:
    """`lock_rows` for at most one row (a lookup by a unique key): the row, or None."""
    rows = lock_rows(queryset)
    return rows[0] if rows else None
