"""Buyers' side: Stripe customers, payments (PaymentIntents) and their events, how a settled
payment was split, refunds and disputes.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import StatusEvent
from payments.models.base import StripeOperation, StripeSteps, _transitions


class StripeCustomer(StripeSteps):
    """The Stripe Customer of a buyer organisation and its default (saved) card."""

    KEY_PREFIX = "stripe_customer"

    organisation = models.OneToOneField(
        "accounts.BuyerOrganisation", on_delete=models.PROTECT, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    default_payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # SetupIntents of this customer already used: the next one's idempotency key is derived from it
    setup_intents_created = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.stripe_customer_id or f"customer #{self.pk} (not yet at Stripe)"


class Payment(StripeOperation):
    """One buyer payment (a PaymentIntent) for an opaque caller reference such as "trade:42"."""

    KEY_PREFIX = "payment"
    EVENT_MODEL = "payments.PaymentEvent"

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending (sent to Stripe)")
        REQUIRES_ACTION = "requires_action", _("Buyer must authenticate")
        AUTHORISED = "authorised", _("Authorised (not captured)")
        FAILED = "failed", _("Failed (declined)")
        CANCELED = "canceled", _("Canceled")
        CAPTURED = "captured", _("Captured")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
        REFUNDED = "refunded", _("Refunded")
        DISPUTED = "disputed", _("Disputed")
        DISPUTE_LOST = "dispute_lost", _("Dispute lost (charged back)")

    class Mode(models.TextChoices):
        AUTHORISE = "authorise", _("Authorise now, capture later")

    TRANSITIONS = _transitions(
        {
            Status.PENDING: {
                Status.REQUIRES_ACTION,
                Status.AUTHORISED,
                Status.CAPTURED,
                Status.FAILED,
                Status.CANCELED,
            },
            Status.REQUIRES_ACTION: {Status.AUTHORISED, Status.CAPTURED, Status.FAILED, Status.CANCELED},
            Status.AUTHORISED: {Status.CAPTURED, Status.CANCELED, Status.FAILED},
            Status.FAILED: set(),
            Status.CANCELED: set(),
            Status.CAPTURED: {
                Status.PARTIALLY_REFUNDED,
                Status.REFUNDED,
                Status.DISPUTED,
                Status.DISPUTE_LOST,
            },
            Status.PARTIALLY_REFUNDED: {
                Status.PARTIALLY_REFUNDED,
                Status.REFUNDED,
                Status.DISPUTED,
                Status.DISPUTE_LOST,
            },
            Status.REFUNDED: {Status.DISPUTED, Status.DISPUTE_LOST},
            Status.DISPUTED: {
                Status.CAPTURED,
                Status.PARTIALLY_REFUNDED,
                Status.REFUNDED,
                Status.DISPUTE_LOST,
            },
            Status.DISPUTE_LOST: set(),
        }
    )
    PRE_CAPTURE = frozenset({Status.PENDING, Status.REQUIRES_ACTION, Status.AUTHORISED})
    CAPTURED_STATES = frozenset(
        {Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED, Status.DISPUTE_LOST}
    )

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Owned by the caller ("trade:42"); payments never interprets it.
    reference = models.CharField(_("reference"), max_length=80, db_index=True)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation",
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("organisation"),
    )
    customer = models.ForeignKey(StripeCustomer, on_delete=models.PROTECT, related_name="payments")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.AUTHORISE)
    amount = models.BigIntegerField(help_text=_("minor units"))
    currency = models.CharField(max_length=3, default="EUR")
    # What we asked Stripe to capture (≤ amount); written before the capture call so any later
    # sync knows it, whatever shape Stripe gives a partial capture.
    capture_requested = models.BigIntegerField(null=True, blank=True)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(
        default=0, help_text=_("refunds to the buyer, not capture releases")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    payment_method_id = models.CharField(max_length=255)
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_charge_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    client_secret = models.CharField(
        max_length=255, blank=True, help_text=_("for 3-D Secure, shown to the buyer")
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_captured__gte=0, amount_captured__lte=models.F("amount")),
                name="payment_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=models.F("amount_captured")),
                name="payment_refunded_within_captured",
            ),
            # One live payment per reference; a failed or canceled one may be replaced.
            models.UniqueConstraint(
                fields=["reference"],
                condition=~Q(status__in=["failed", "canceled"]),
                name="payment_one_live_per_reference",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="payment_status_updated")]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"


class PaymentEvent(StatusEvent):
    """Every status change of a payment; also the outbox through which outcomes reach the caller."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20, choices=Payment.Status.choices)
    to_status = models.CharField(max_length=20, choices=Payment.Status.choices)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # delivery bookkeeping: a worker claims the event until `claimed_until`; a handler that keeps
    # failing parks it (and the payment's later events wait behind it) for moderators
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    parked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["occurred_at"],
                condition=Q(delivered_at__isnull=True),
                name="payment_event_undelivered",
            )
        ]

    def __str__(self) -> str:
        return f"payment {self.payment_id}: {self.from_status} → {self.to_status}"


class SettlementShare(models.Model):
    """How a settled payment was split: each seller's gross share, the platform fee and the net."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="settlement_shares")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    gross = models.BigIntegerField()
    fee = models.BigIntegerField()
    net = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "seller"], name="settlement_one_share_per_seller"),
            models.CheckConstraint(
                condition=Q(gross=models.F("fee") + models.F("net")), name="share_adds_up"
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.payment_id} seller {self.seller_id}: {self.net}"


class Refund(StripeOperation):
    KEY_PREFIX = "refund"
    EVENT_MODEL = "payments.RefundEvent"

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund to the buyer")
        # Stripe may show the uncaptured part of a partial capture as a refund: nothing of ours moves.
        CAPTURE_RELEASE = "capture_release", _("Uncaptured part released")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    TRANSITIONS = _transitions(
        {
            Status.PENDING: {Status.SUCCEEDED, Status.FAILED, Status.CANCELED},
            Status.SUCCEEDED: set(),
            Status.FAILED: set(),
            Status.CANCELED: set(),
        }
    )

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REFUND)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"refund {self.stripe_refund_id or self.pk}: {self.amount} {self.currency}"


class RefundEvent(StatusEvent):
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, choices=Refund.Status.choices)
    to_status = models.CharField(max_length=12, choices=Refund.Status.choices)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"refund {self.refund_id}: {self.from_status} → {self.to_status}"


class Dispute(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    TRANSITIONS = _transitions(
        {Status.OPEN: {Status.WON, Status.LOST}, Status.WON: set(), Status.LOST: set()}
    )

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(_("Stripe dispute"), max_length=255, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(_("reason"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    stripe_status = models.CharField(max_length=32, blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="dispute_amount_positive")]

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id} ({self.status})"
