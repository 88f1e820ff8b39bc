"""Reads of a buyer organisation's webhook endpoints, events, deliveries and attempts (the API and
the console): every one scoped to the organisation, so another organisation's ids find nothing."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import BuyerOrganisation
from marketplace.models_webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def webhook_endpoints_of(organisation: BuyerOrganisation) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organisation=organisation).order_by("-created_at", "-pk")


def webhook_endpoint_of(organisation: BuyerOrganisation, public_id) -> WebhookEndpoint | None:
    return webhook_endpoints_of(organisation).filter(public_id=public_id).first()


def webhook_events_of(
    organisation: BuyerOrganisation, *, event_type: str | None = None
) -> QuerySet[WebhookEvent]:
    events = WebhookEvent.objects.filter(organisation=organisation)
    if event_type:
        events = events.filter(type=event_type)
    return events.order_by("-created_at", "-pk")


def webhook_event_of(organisation: BuyerOrganisation, public_id) -> WebhookEvent | None:
    return webhook_events_of(organisation).filter(public_id=public_id).first()


def _with_attempts(deliveries: QuerySet[WebhookDelivery]) -> QuerySet[WebhookDelivery]:
    return deliveries.select_related("endpoint", "event").prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("attempted_at", "pk"))
    )


def webhook_deliveries_of_event(event: WebhookEvent) -> QuerySet[WebhookDelivery]:
    """The event's deliveries (one per endpoint it went to) with their attempts, oldest first."""
    return _with_attempts(WebhookDelivery.objects.filter(event=event).order_by("created_at", "pk"))


def webhook_deliveries_of_endpoint(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries with their attempts, newest first (the console's log)."""
    return _with_attempts(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk"))


def webhook_delivery_of(organisation: BuyerOrganisation, public_id) -> WebhookDelivery | None:
    return _with_attempts(
        WebhookDelivery.objects.filter(endpoint__organisation=organisation, public_id=public_id)
    ).first()
