"""Inbound Stripe events (webhooks) and reconciliation runs and their findings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payments.models.base import _transitions


class StripeEvent(models.Model):
    """An inbound Stripe event, stored raw before anything else happens; processed by a task."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSING = "processing", _("Processing")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    # Changed by payments.webhooks only, each move a compare-and-set on the old status: a worker
    # claims a received (or failed, to retry) event; a processing event a worker lost goes back
    # to received; the event row is this row itself (error, attempts, timestamps).
    TRANSITIONS = _transitions(
        {
            Status.RECEIVED: {Status.PROCESSING},
            Status.PROCESSING: {Status.SUCCEEDED, Status.FAILED, Status.RECEIVED},
            Status.FAILED: {Status.PROCESSING, Status.RECEIVED},
            Status.SUCCEEDED: set(),
        }
    )

    event_id = models.CharField(_("event"), max_length=255, unique=True)
    type = models.CharField(_("type"), max_length=100, db_index=True)
    api_version = models.CharField(max_length=64, blank=True)
    account = models.CharField(max_length=255, blank=True, help_text=_("Connect account the event is about"))
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe events")
        indexes = [models.Index(fields=["status", "received_at"], name="stripe_event_status")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"


class ReconciliationRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField()
    balance_transactions = models.PositiveIntegerField(default=0)
    ledger_transactions = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    issues = models.PositiveIntegerField(default=0)
    fees_posted = models.PositiveIntegerField(default=0, help_text=_("Stripe fees newly booked by this run"))

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M}: {self.issues} issues"


class ReconciliationIssue(models.Model):
    """What reconciliation found: Stripe and the ledger disagree, our books disagree with each
    other, or Stripe holds an authorisation nobody will capture (payments/reconciliation.py)."""

    class Kind(models.TextChoices):
        MISSING_IN_LEDGER = "missing_in_ledger", _("At Stripe, not in the ledger")
        MISSING_AT_STRIPE = "missing_at_stripe", _("In the ledger, not at Stripe")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amounts differ")
        CAPTURED_NOT_CREDITED = "captured_not_credited", _("Captured, no seller credited")
        CHARGES_NOT_NETTED = "charges_not_netted", _("Settled, buyer charges not netted")
        PAYABLE_MISMATCH = "payable_mismatch", _("Seller payable does not add up")
        ORPHAN_AUTHORISATION = "orphan_authorisation", _("Authorisation no payment owns (cancelled)")
        STALE_AUTHORISATION = "stale_authorisation", _("Authorisation past its deadline (cancelled)")

    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="found")
    # kind + Stripe object + ledger transaction: a finding stays one open issue across runs.
    fingerprint = models.CharField(max_length=300)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    stripe_object_id = models.CharField(_("Stripe object"), max_length=255, blank=True)
    balance_transaction_id = models.CharField(max_length=255, blank=True)
    ledger_transaction = models.ForeignKey(
        "payments.LedgerTransaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stripe_amount = models.BigIntegerField(null=True, blank=True)
    ledger_amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    detail = models.CharField(_("detail"), max_length=500)
    detected_at = models.DateTimeField(_("detected at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.TextField(blank=True)

    class Meta:
        verbose_name = _("reconciliation issue")
        verbose_name_plural = _("reconciliation issues")
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"], condition=Q(resolved_at__isnull=True), name="recon_issue_one_open"
            )
        ]
        indexes = [
            models.Index(
                fields=["detected_at"], condition=Q(resolved_at__isnull=True), name="recon_issue_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"
