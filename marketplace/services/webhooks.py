"""Outbound webhooks: events emitted in the transaction of their cause, endpoints managed by the
buyer (API and console), and the two status transitions (endpoint, delivery). Delivery itself is
in marketplace.services.webhook_delivery.

To emit: `webhook_events_emit(event_type, objects)` with `objects` from marketplace.webhook_payloads
(one (organisation id, object) per event), inside the transaction that made the change; or
`webhook_events_emit_for(event_type, organisation_ids, build)` to build them only when needed. An event
is recorded only for an organisation with at least one endpoint, with one pending delivery per
enabled endpoint subscribed to its type; the deliveries are queued when the transaction commits
and the beat sweep (`webhook_deliveries_queue_due`) picks up any whose message was lost.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import crypto
from accounts.models import BuyerOrganisation
from core.errors import Conflict, InvalidInput, NotFound
from core.lifecycles import check_transition
from core.locks import lock_row
from marketplace import webhook_transport
from marketplace.models_webhooks import (
    ALL_EVENT_TYPES,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

SECRET_PREFIX = "whsec_"


# --- emitting events --------------------------------------------------------------------------


def webhook_events_emit(
    event_type: str, objects: Sequence[tuple[int, dict]], *, at: datetime | None = None
) -> list[WebhookEvent]:
    """Record one event of `event_type` per (organisation id, object) and its deliveries; queue
    them at commit. Objects come from marketplace.webhook_payloads.

    Requires: the transaction of the cause (the event exists if and only if the change commits)."""
    return webhook_events_emit_for(event_type, {org for org, _obj in objects}, lambda: objects, at=at)


def webhook_events_emit_for(
    event_type: str,
    organisation_ids: Iterable[int],
    build: Callable[[], Sequence[tuple[int, dict]]],
    *,
    at: datetime | None = None,
) -> list[WebhookEvent]:
    """`webhook_events_emit`, building the objects only when one of these organisations has an
    endpoint: on the hot paths (a bid that wins at once) an organisation without webhooks pays
    one indexed query, not the payload's.

    Requires: the transaction of the cause."""
    wanted = set(organisation_ids)
    if not wanted:
        return []
    endpoints = list(
        WebhookEndpoint.objects.filter(organisation_id__in=wanted).only(
            "pk", "organisation_id", "status", "event_types"
        )
    )
    if not endpoints:
        return []
    objects = build()
    now = at or timezone.now()
    by_organisation: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in endpoints:
        by_organisation.setdefault(endpoint.organisation_id, []).append(endpoint)
    events = []
    for organisation_id, obj in objects:
        if organisation_id not in by_organisation:
            continue
        public_id = uuid.uuid4()
        payload = {
            "id": str(public_id),
            "object": "event",
            "type": event_type,
            "created": int(now.timestamp()),
            "data": {"object": obj},
        }
        events.append(
            WebhookEvent(
                public_id=public_id,
                organisation_id=organisation_id,
                type=event_type,
                payload=payload,
                created_at=now,
            )
        )
    events = WebhookEvent.objects.bulk_create(events)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            event=event,
            endpoint_id=endpoint.pk,
            next_attempt_at=now,
            give_up_at=now + settings.WEBHOOK_RETRY_FOR,
            queued_until=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS),
            created_at=now,
        )
        for event in events
        for endpoint in by_organisation[event.organisation_id]
        if endpoint.status == WebhookEndpoint.Status.ENABLED and endpoint.subscribes_to(event_type)
    )
    _queue_on_commit([delivery.pk for delivery in deliveries])
    return events


def _queue_on_commit(delivery_ids: list[int]) -> None:
    from marketplace.tasks import webhook_deliver

    if delivery_ids:
        transaction.on_commit(lambda: [webhook_deliver.delay(pk) for pk in delivery_ids])


# --- transitions (the one place endpoint and delivery statuses change) ------------------------


def _endpoint_transition(endpoint: WebhookEndpoint, to_status: str, *, reason: str = "") -> None:
    """Requires: the endpoint locked. Disabling fails its pending deliveries."""
    check_transition(WebhookEndpoint, endpoint.status, to_status)
    now = timezone.now()
    changes: dict = {"status": to_status, "disabled_reason": reason[:200], "updated_at": now}
    if to_status == WebhookEndpoint.Status.ENABLED:
        changes.update(disabled_reason="", failing_since=None)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**changes)
    for field, value in changes.items():
        setattr(endpoint, field, value)
    if to_status == WebhookEndpoint.Status.DISABLED:
        WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.FAILED, last_error="endpoint disabled"
        )


def _delivery_transition(delivery: WebhookDelivery, to_status: str, **changes) -> None:
    """Requires: the delivery locked (or claimed) in this transaction."""
    check_transition(WebhookDelivery, delivery.status, to_status)
    WebhookDelivery.objects.filter(pk=delivery.pk, status=delivery.status).update(status=to_status, **changes)
    delivery.status = to_status
    for field, value in changes.items():
        setattr(delivery, field, value)


# --- endpoints --------------------------------------------------------------------------------


def _check_url(url: str) -> str:
    url = (url or "").strip()
    if len(url) > 2000:
        raise InvalidInput("webhook_url_invalid", "URLs are at most 2000 characters.", field="url")
    try:
        webhook_transport.resolve(url)
    except webhook_transport.UrlForbidden as exc:
        raise InvalidInput(
            "webhook_url_forbidden",
            f"This URL cannot receive webhooks: {exc}. Use an https URL whose host resolves to "
            "public addresses only.",
            field="url",
        ) from exc
    return url


def _check_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(event_types))
    unknown = [t for t in wanted if t != ALL_EVENT_TYPES and t not in WebhookEventType.values]
    if not wanted or unknown:
        raise InvalidInput(
            "webhook_event_types_invalid",
            f"Subscribe to one or more of {', '.join(WebhookEventType.values)}, or {ALL_EVENT_TYPES!r}"
            + (f" (unknown: {', '.join(unknown)})." if unknown else "."),
            field="event_types",
        )
    return [ALL_EVENT_TYPES] if ALL_EVENT_TYPES in wanted else wanted


def _new_secret() -> tuple[str, str]:
    """(plaintext, encrypted) of a fresh signing secret."""
    plaintext = SECRET_PREFIX + secrets.token_urlsafe(32)
    return plaintext, crypto.master().encrypt(plaintext.encode()).decode()


def endpoint_secrets(endpoint: WebhookEndpoint, *, at: datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, then the previous one until it expires."""
    at = at or timezone.now()
    found = [crypto.master().decrypt(endpoint.secret_encrypted.encode()).decode()]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > at:
        found.append(crypto.master().decrypt(endpoint.previous_secret_encrypted.encode()).decode())
    return found


def _locked_endpoint(organisation: BuyerOrganisation, endpoint_public_id) -> WebhookEndpoint:
    endpoint = lock_row(
        WebhookEndpoint.objects.filter(organisation=organisation, public_id=endpoint_public_id)
    )
    if endpoint is None:
        raise NotFound("not_found", "No such webhook endpoint.")
    return endpoint


def webhook_endpoint_create(
    *, organisation: BuyerOrganisation, url: str, event_types: Iterable[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its signing secret (returned once: only this call shows it)."""
    url, types = _check_url(url), _check_event_types(event_types)
    plaintext, encrypted = _new_secret()
    with transaction.atomic(durable=True):
        lock_row(BuyerOrganisation.objects.filter(pk=organisation.pk))  # serialises the count below
        if (
            WebhookEndpoint.objects.filter(organisation=organisation).count()
            >= settings.WEBHOOK_MAX_ENDPOINTS
        ):
            raise Conflict(
                "webhook_endpoint_limit",
                f"An organisation has at most {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints.",
            )
        endpoint = WebhookEndpoint.objects.create(
            organisation=organisation,
            url=url,
            description=description[:200],
            event_types=types,
            secret_encrypted=encrypted,
        )
    return endpoint, plaintext


def webhook_endpoint_update(
    *,
    organisation: BuyerOrganisation,
    endpoint_public_id,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
) -> WebhookEndpoint:
    changes: dict = {}
    if url is not None:
        changes["url"] = _check_url(url)
    if event_types is not None:
        changes["event_types"] = _check_event_types(event_types)
    if description is not None:
        changes["description"] = description[:200]
    with transaction.atomic(durable=True):
        endpoint = _locked_endpoint(organisation, endpoint_public_id)
        if changes:
            changes["updated_at"] = timezone.now()
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**changes)
            for field, value in changes.items():
                setattr(endpoint, field, value)
    return endpoint


def webhook_endpoint_delete(*, organisation: BuyerOrganisation, endpoint_public_id) -> None:
    """Deletes the endpoint with its deliveries and their attempts (the events stay)."""
    with transaction.atomic(durable=True):
        endpoint = _locked_endpoint(organisation, endpoint_public_id)
        endpoint.delete()


def webhook_endpoint_roll_secret(
    *, organisation: BuyerOrganisation, endpoint_public_id
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned once); the current one keeps signing alongside it for
    WEBHOOK_SECRET_ROLL_OVERLAP, so receivers can switch without missing an event."""
    plaintext, encrypted = _new_secret()
    with transaction.atomic(durable=True):
        endpoint = _locked_endpoint(organisation, endpoint_public_id)
        now = timezone.now()
        changes = {
            "previous_secret_encrypted": endpoint.secret_encrypted,
            "previous_secret_expires_at": now + settings.WEBHOOK_SECRET_ROLL_OVERLAP,
            "secret_encrypted": encrypted,
            "updated_at": now,
        }
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**changes)
        for field, value in changes.items():
            setattr(endpoint, field, value)
    return endpoint, plaintext


def webhook_endpoint_enable(*, organisation: BuyerOrganisation, endpoint_public_id) -> WebhookEndpoint:
    """Enable a disabled endpoint (its failure streak forgotten); an enabled one is left as it is.
    Deliveries failed meanwhile are not replayed: redeliver them one by one."""
    with transaction.atomic(durable=True):
        endpoint = _locked_endpoint(organisation, endpoint_public_id)
        if endpoint.status != WebhookEndpoint.Status.ENABLED:
            _endpoint_transition(endpoint, WebhookEndpoint.Status.ENABLED)
    return endpoint


def webhook_endpoint_disable(
    *, organisation: BuyerOrganisation, endpoint_public_id, reason: str = "disabled by the organisation"
) -> WebhookEndpoint:
    """Stop sending to the endpoint: its pending deliveries fail, new events skip it."""
    with transaction.atomic(durable=True):
        endpoint = _locked_endpoint(organisation, endpoint_public_id)
        if endpoint.status != WebhookEndpoint.Status.DISABLED:
            _endpoint_transition(endpoint, WebhookEndpoint.Status.DISABLED, reason=reason)
    return endpoint


def webhook_delivery_redeliver(*, organisation: BuyerOrganisation, delivery_public_id) -> WebhookDelivery:
    """Send a delivery again now, on request: one attempt, whatever it became (a pending one is
    just made due now and keeps its retries)."""
    with transaction.atomic(durable=True):
        delivery = lock_row(
            WebhookDelivery.objects.filter(
                public_id=delivery_public_id, endpoint__organisation=organisation
            ).select_related("endpoint", "event")
        )
        if delivery is None:
            raise NotFound("not_found", "No such webhook delivery.")
        if delivery.endpoint.status != WebhookEndpoint.Status.ENABLED:
            raise Conflict(
                "webhook_endpoint_disabled",
                "This delivery's endpoint is disabled: enable it first "
                f"(POST /api/v1/webhook-endpoints/{delivery.endpoint.public_id}/enable/).",
            )
        now = timezone.now()
        queued_until = now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS)
        if delivery.status == WebhookDelivery.Status.PENDING:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=now, queued_until=queued_until
            )
            delivery.next_attempt_at = now
        else:
            _delivery_transition(
                delivery,
                WebhookDelivery.Status.PENDING,
                next_attempt_at=now,
                give_up_at=now,
                queued_until=queued_until,
            )
        _queue_on_commit([delivery.pk])
    return delivery
