"""Thin Celery wrappers over marketplace services (queue: settlement)."""

from celery import shared_task

from marketplace import services, settlement


@shared_task(acks_late=True)
def trades_settle(trade_ids: list[int]) -> int:
    """Queued when trades commit: settles every due trade, batched per buyer, these included.
    (After a burst, most of these find their trades claimed already; their claim then takes the
    next due ones at once, which is why they do not skip ahead: skipping costs each worker a walk
    through the queue before its next claim, and halved the bench's drain rate.)"""
    return settlement.trades_settle_due()


@shared_task(acks_late=True)
def trades_settle_due() -> int:
    return settlement.trades_settle_due()


@shared_task(acks_late=True)
def auctions_close_due() -> int:
    return services.auctions_close_due()


@shared_task(acks_late=True)
def audience_bid_clear(bid_id: int) -> bool:
    return services.audience_bid_clear(bid_id=bid_id) is not None


@shared_task(acks_late=True)
def audience_bids_sweep() -> int:
    return services.audience_bids_sweep()


@shared_task(acks_late=True)
def marketplace_housekeeping() -> dict[str, int]:
    return {
        "access_grants_expired": services.access_grants_expire(),
        "deletion_notices_overdue": services.deletion_notices_flag_overdue(),
        "idempotency_records_purged": services.idempotency_records_purge(),
    }
