"""Thin Celery wrappers over marketplace services (queue: settlement; webhook_* on `webhooks`)."""

from celery import shared_task

from core import services as core_services
from marketplace import services, settlement
from marketplace.services import webhook_delivery


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240)
def trades_settle() -> int:
    """Queued when trades commit: one claim of the due trades, batched per buyer (the new ones,
    unless another worker has them, and whatever else is due), then done: a message never keeps its
    worker claiming while the messages behind it wait. The beat sweep drains what is left."""
    return settlement.trades_settle_due(seconds=0)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240)
def trades_settle_due() -> int:
    """The beat sweep: held listings whose failed sale a crash left held go back on the market,
    then claims while trades are due, for up to SETTLEMENT_DRAIN_SECONDS."""
    services.listings_release()
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
        "idempotency_records_purged": core_services.idempotency_records_purge(),
    }


@shared_task(acks_late=True, time_limit=120, soft_time_limit=90)
def webhook_deliver(delivery_id: int) -> str | None:
    """One attempt of a webhook delivery (a no-op unless it is pending and due)."""
    return webhook_delivery.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(acks_late=True, time_limit=120, soft_time_limit=90)
def webhook_deliveries_due() -> int:
    """The beat sweep: queue the due deliveries (retries, and messages lost with a worker)."""
    return webhook_delivery.webhook_deliveries_queue_due()
