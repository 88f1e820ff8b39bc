"""Thin Celery wrappers over accounts services (queue: consent)."""

from celery import shared_task

from accounts import services


@shared_task(acks_late=True, max_retries=3)
def consent_expire_due() -> int:
    return services.consent_expire_due()


@shared_task(acks_late=True, max_retries=3)
def consent_remind_expiring() -> int:
    return services.consent_remind_expiring()


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def consent_reminder_send(seller_id: int, grant_ids: list[int]) -> bool:
    return services.consent_reminder_email(seller_id=seller_id, grant_ids=grant_ids)


# One pass over every seller's birth date: longer than the default limits on a large base, but
# done well within the broker's visibility timeout (an hour: a message still unacknowledged then
# is delivered again, to a second worker) and before the next run, an hour later.
@shared_task(acks_late=True, max_retries=3, soft_time_limit=3000, time_limit=3300)
def seller_age_bands_refresh() -> int:
    return services.seller_age_bands_refresh()


@shared_task(acks_late=True, max_retries=3)
def api_usage_flush() -> int:
    return services.api_usage_flush()
