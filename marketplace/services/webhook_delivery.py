"""Delivering webhook events (queue `webhooks`): one attempt per task, the POST made between two
short transactions, never under a lock.

1. claim: the delivery, if still pending and due, is pushed WEBHOOK_CLAIM_SECONDS ahead (another
   message for it finds it not due), its attempt counted and its message marked consumed; commit;
2. sign (every live secret of the endpoint) and POST the event's payload; the URL is checked
   again, and again at each redirect (marketplace.webhook_transport);
3. record the attempt: a 2xx succeeds the delivery; otherwise it is due again after the next
   delay of WEBHOOK_RETRY_DELAYS_SECONDS, or fails once that would pass its give_up_at (three
   days after the event). An endpoint whose attempts all failed for WEBHOOK_DISABLE_AFTER is
   disabled and its organisation emailed.

Retries are not far-future messages: the beat sweep queues due deliveries every 30 s, which
also recovers a message lost with its worker.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.locks import claim_rows, lock_row
from marketplace import webhook_transport
from marketplace.models_webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from marketplace.services.webhooks import _delivery_transition, _endpoint_transition, endpoint_secrets
from marketplace.webhook_signing import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)
QUEUE_BATCH_SIZE = 1000


def event_body(event: WebhookEvent) -> bytes:
    """The exact bytes posted (and signed) for an event."""
    return json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based); the last delay repeats."""
    delays = settings.WEBHOOK_RETRY_DELAYS_SECONDS
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


def webhook_delivery_attempt(*, delivery_id: int) -> str | None:
    """One attempt of a due pending delivery; the delivery's status after it, or None when there
    was nothing to do (not due, already done, claimed by another worker, or deleted)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        claimed = claim_rows(
            WebhookDelivery.objects.filter(
                pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
            ),
            limit=1,
        )
        if not claimed:
            return None
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS),
            queued_until=None,  # its message is consumed: the sweep queues the next attempt
        )
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    body = event_body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Courtier-Webhooks/1.0",
        "Courtier-Event-Id": str(event.public_id),
        "Courtier-Delivery-Id": str(delivery.public_id),
        SIGNATURE_HEADER: signature_header(body, endpoint_secrets(endpoint)),
    }
    result = webhook_transport.post(endpoint.url, body, headers)  # the network: no lock held
    status = _record(delivery_id, result)
    if status is not None and not result.succeeded:
        _disable_if_failing_too_long(endpoint.pk)
    return status


def _record(delivery_id: int, result: webhook_transport.PostResult) -> str | None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        delivery = lock_row(WebhookDelivery.objects.filter(pk=delivery_id))
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None  # deleted with its endpoint, or failed by the endpoint's disabling
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            url=result.url[:2000],
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
            response_excerpt=result.excerpt,
        )
        error = result.error or ("" if result.succeeded else f"HTTP {result.status_code}")
        if result.succeeded:
            _delivery_transition(
                delivery,
                WebhookDelivery.Status.SUCCEEDED,
                last_status_code=result.status_code,
                last_error="",
                delivered_at=now,
            )
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failing_since__isnull=False).update(
                failing_since=None
            )
            return delivery.status
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failing_since__isnull=True).update(
            failing_since=now
        )
        next_attempt_at = now + retry_delay(delivery.attempts)
        if next_attempt_at > delivery.give_up_at:
            _delivery_transition(
                delivery,
                WebhookDelivery.Status.FAILED,
                last_status_code=result.status_code,
                last_error=error[:200],
            )
        else:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=next_attempt_at, last_status_code=result.status_code, last_error=error[:200]
            )
    return delivery.status


def _disable_if_failing_too_long(endpoint_id: int) -> bool:
    since = timezone.now() - settings.WEBHOOK_DISABLE_AFTER
    with transaction.atomic(durable=True):
        endpoint = lock_row(
            WebhookEndpoint.objects.filter(
                pk=endpoint_id, status=WebhookEndpoint.Status.ENABLED, failing_since__lte=since
            ).select_related("organisation")
        )
        if endpoint is None:
            return False
        days = settings.WEBHOOK_DISABLE_AFTER.days
        _endpoint_transition(
            endpoint, WebhookEndpoint.Status.DISABLED, reason=f"every delivery failed for {days} days"
        )
        organisation = endpoint.organisation
        transaction.on_commit(lambda: _email_disabled(endpoint, organisation.contact_email))
    logger.warning(
        "webhook endpoint %s disabled: failing since %s", endpoint.public_id, endpoint.failing_since
    )
    return True


def _email_disabled(endpoint: WebhookEndpoint, contact_email: str) -> None:
    """After the commit: a mail server down loses the email, never the disabling."""
    try:
        _send_disabled_email(endpoint, contact_email)
    except Exception:
        logger.exception(
            "could not email %s that webhook endpoint %s was disabled", contact_email, endpoint.public_id
        )


def _send_disabled_email(endpoint: WebhookEndpoint, contact_email: str) -> None:
    send_mail(
        subject="Courtier: your webhook endpoint was disabled",
        message=(
            f"Every delivery to your webhook endpoint {endpoint.url} (id {endpoint.public_id}) has "
            f"failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC, so we stopped sending to it.\n\n"
            "Fix the endpoint, then enable it again in the console or with "
            f"POST /api/v1/webhook-endpoints/{endpoint.public_id}/enable/ . Events it missed are "
            "listed at GET /api/v1/webhook-events/ and can be redelivered one by one."
        ),
        from_email=None,
        recipient_list=[contact_email],
        fail_silently=False,
    )


def webhook_deliveries_queue_due(*, now=None, limit: int = QUEUE_BATCH_SIZE) -> int:
    """The beat sweep: queue every due pending delivery (retries, and messages lost) that has no
    message on the queue (`queued_until` passed: a lost one is queued again after
    WEBHOOK_CLAIM_SECONDS). A message for a delivery already claimed finds it not due and does
    nothing."""
    from marketplace.tasks import webhook_deliver

    now = now or timezone.now()
    with transaction.atomic(durable=True):
        due = claim_rows(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(queued_until__isnull=True) | Q(queued_until__lte=now))
            .values_list("pk", flat=True),
            limit=limit,
            order_by=("next_attempt_at",),
        )
        WebhookDelivery.objects.filter(pk__in=due).update(
            queued_until=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS)
        )
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)
