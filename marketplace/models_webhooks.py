"""Outbound webhooks to buyer organisations: their endpoints, the events we send them, one
delivery per (event, endpoint) and every attempt of it.

An event is written in the same transaction as its cause (marketplace.services.webhooks), with
one pending delivery per enabled endpoint subscribed to its type; workers deliver them (queue
`webhooks`), and a beat sweep re-queues due deliveries whose message was lost.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookEventType(models.TextChoices):
    BID_WON = "bid.won", _("A bid won: its trade is being paid")
    BID_LOST = "bid.lost", _("A bid lost its auction")
    TRADE_SETTLED = "trade.settled", _("A trade was paid and delivered: its records can be read")
    PAYMENT_FAILED = "payment.failed", _("The payment of a trade failed")
    ACCESS_REVOKED = "access.revoked", _("An access grant was revoked: delete the data by the deadline")
    NOTICE_OVERDUE = "notice.overdue", _("A deletion notice passed its deadline unacknowledged")


ALL_EVENT_TYPES = "*"  # an endpoint subscribed to every type, present and future
EVENT_TYPE_CHOICES = [*WebhookEventType.values, ALL_EVENT_TYPES]  # what an endpoint subscribes to


class WebhookEndpoint(models.Model):
    """Where a buyer organisation receives events. The signing secret is stored encrypted
    (accounts.crypto master keys): it must be readable to sign, and is shown to the buyer only at
    creation and when rolled. After a roll the previous secret also signs until it expires."""

    class Status(models.TextChoices):
        ENABLED = "enabled", _("Enabled")
        DISABLED = "disabled", _("Disabled")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.ENABLED: frozenset({Status.DISABLED}),
        Status.DISABLED: frozenset({Status.ENABLED}),
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text=_('event types, or ["*"] for every type'))
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ENABLED)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # since when every attempt failed (None after a success): disabled past WEBHOOK_DISABLE_AFTER
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organisation", "created_at"], name="webhook_endpoint_org")]

    def __str__(self) -> str:
        return f"webhook endpoint {self.public_id} ({self.status})"

    def subscribes_to(self, event_type: str) -> bool:
        return ALL_EVENT_TYPES in self.event_types or event_type in self.event_types


class WebhookEvent(models.Model):
    """What happened, as sent: `payload` is the exact JSON object each delivery signs and posts."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation", on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organisation", "-created_at", "-id"], name="webhook_event_org")]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until an attempt gets a 2xx (succeeded) or the retry
    window ends (failed). Redelivery on request makes it pending again for one attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.SUCCEEDED, Status.FAILED}),
        Status.SUCCEEDED: frozenset({Status.PENDING}),  # redelivered on request
        Status.FAILED: frozenset({Status.PENDING}),
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # due then; a worker that claims it pushes it WEBHOOK_CLAIM_SECONDS ahead while it posts
    next_attempt_at = models.DateTimeField(default=timezone.now)
    give_up_at = models.DateTimeField(help_text=_("no retry after this: the delivery fails"))
    # a message for it is on the queue until then: the sweep does not queue it again meanwhile
    queued_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_one_per_endpoint")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.public_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery (append-only): what the endpoint answered, or why nothing was sent."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    url = models.CharField(max_length=2000)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "attempted_at"], name="webhook_attempt_delivery")]

    def __str__(self) -> str:
        return f"attempt of {self.delivery_id} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
