"""Sellers' side: Connect accounts, payouts (transfers) and their reversals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import StatusEvent
from payments.models.base import StripeOperation, StripeSteps, _transitions


class ConnectAccount(StripeSteps):
    """A seller's Stripe Connect Express account, kept current by `account.updated`."""

    KEY_PREFIX = "connect_account"

    seller = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="connect_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    payouts_enabled = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    # Stripe's `requirements` hash: currently_due, past_due, eventually_due, disabled_reason, …
    requirements = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["seller"], condition=Q(payouts_enabled=True), name="connect_payouts_enabled")
        ]

    def __str__(self) -> str:
        return self.stripe_account_id or f"connect account #{self.pk} (not yet at Stripe)"

    @property
    def outstanding_requirements(self) -> list[str]:
        req = self.requirements or {}
        return sorted(set(req.get("past_due") or []) | set(req.get("currently_due") or []))


class Payout(StripeOperation):
    """A batch of a seller's payable balance sent as one Transfer to their Connect account."""

    KEY_PREFIX = "payout"
    EVENT_MODEL = "payments.PayoutEvent"
    AUDIT_NAME = "payout"  # its transitions are in the audit trail (core.audit)

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending (transfer being sent)")
        IN_TRANSIT = "in_transit", _("In transit")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Failed")
        REVERSED = "reversed", _("Reversed")

    TRANSITIONS = _transitions(
        {
            Status.PENDING: {Status.IN_TRANSIT, Status.FAILED},
            Status.IN_TRANSIT: {Status.PAID, Status.FAILED, Status.REVERSED},
            Status.PAID: {Status.FAILED, Status.REVERSED},
            Status.FAILED: {Status.REVERSED},
            Status.REVERSED: set(),
        }
    )

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts", verbose_name=_("seller")
    )
    connect_account = models.ForeignKey(ConnectAccount, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    amount_reversed = models.BigIntegerField(default=0)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    transfer_group = models.CharField(max_length=80, blank=True)
    stripe_payout_id = models.CharField(max_length=255, blank=True, db_index=True)
    transferred_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_reversed__gte=0, amount_reversed__lte=models.F("amount")),
                name="payout_reversed_within_amount",
            ),
            # A seller has at most one payout waiting for its transfer: sweeps cannot double-pay.
            models.UniqueConstraint(
                fields=["seller", "currency"],
                condition=Q(status="pending"),
                name="payout_one_pending_per_seller",
            ),
        ]

    def __str__(self) -> str:
        return f"payout {self.pk} to seller {self.seller_id}: {self.amount} {self.currency} ({self.status})"


class PayoutEvent(StatusEvent):
    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, choices=Payout.Status.choices)
    to_status = models.CharField(max_length=12, choices=Payout.Status.choices)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"payout {self.payout_id}: {self.from_status} → {self.to_status}"


class PayoutReversal(StripeOperation):
    """Money pulled back from a seller's Connect account (a Transfer Reversal)."""

    KEY_PREFIX = "payout_reversal"
    EVENT_MODEL = "payments.PayoutReversalEvent"
    AUDIT_NAME = "payout_reversal"  # its transitions are in the audit trail (core.audit)

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    # A reversal Stripe reports as made is recorded as succeeded whatever we noted before.
    TRANSITIONS = _transitions(
        {
            Status.PENDING: {Status.SUCCEEDED, Status.FAILED},
            Status.SUCCEEDED: set(),
            Status.FAILED: {Status.SUCCEEDED},
        }
    )

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="reversals")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    stripe_reversal_id = models.CharField(max_length=255, unique=True, null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_reversal_amount_positive"),
            # One reversal in flight per payout.
            models.UniqueConstraint(
                fields=["payout"], condition=Q(status="pending"), name="payout_one_pending_reversal"
            ),
        ]

    def __str__(self) -> str:
        return f"reversal {self.stripe_reversal_id or self.pk} of payout {self.payout_id}: {self.amount}"


class PayoutReversalEvent(StatusEvent):
    reversal = models.ForeignKey(PayoutReversal, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, choices=PayoutReversal.Status.choices)
    to_status = models.CharField(max_length=12, choices=PayoutReversal.Status.choices)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"payout reversal {self.reversal_id}: {self.from_status} → {self.to_status}"
