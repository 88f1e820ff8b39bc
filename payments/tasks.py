"""Thin Celery wrappers over payments services. Queues: `webhooks` (webhook_*), `payouts`
(payout_*), `default` (the rest). Each takes ids, calls one service and is safe to run twice;
only what can recover (Stripe unreachable, a database hiccup) is retried."""

from __future__ import annotations

from typing import TypedDict

from celery import shared_task
from django.db import OperationalError

from payments import services, webhooks
from payments.services import StripeUnavailable

RETRYABLE = (StripeUnavailable, OperationalError)


class TaskLimits(TypedDict):  # typed so that **LIMITS type-checks against shared_task's options
    acks_late: bool
    time_limit: int
    soft_time_limit: int


LIMITS: TaskLimits = {"acks_late": True, "time_limit": 120, "soft_time_limit": 100}


@shared_task(autoretry_for=RETRYABLE, retry_backoff=5, retry_backoff_max=600, max_retries=8, **LIMITS)
def webhook_process(event_id: int) -> str:
    return webhooks.webhook_process(event_id=event_id)


@shared_task(**LIMITS)
def webhook_requeue_stale() -> int:
    return webhooks.webhook_requeue_stale()


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def payout_sweep() -> int:
    return services.payout_sweep()


@shared_task(autoretry_for=RETRYABLE, retry_backoff=30, retry_backoff_max=1800, max_retries=6, **LIMITS)
def payout_transfer(payout_id: int) -> str:
    return services.payout_transfer(payout_id=payout_id).status


@shared_task(autoretry_for=RETRYABLE, retry_backoff=30, retry_backoff_max=1800, max_retries=6, **LIMITS)
def payout_recover(seller_id: int, currency: str = "EUR") -> int:
    return services.payout_recover(seller_id=seller_id, currency=currency)


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def payout_recover_receivables() -> int:
    return services.payout_recover_receivables()


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def payments_resume_pending() -> int:
    return services.payments_resume_pending()


@shared_task(**LIMITS)
def payment_outcomes_deliver() -> int:
    return services.payment_outcomes_deliver()


@shared_task(
    autoretry_for=RETRYABLE,
    retry_backoff=60,
    max_retries=3,
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1700,
)
def reconciliation_run() -> int:
    return services.reconciliation_run().pk
