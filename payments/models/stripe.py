"""Stripe-facing rows: customers, payments, refunds, disputes, Connect accounts, payouts, inbound
events and reconciliation findings.

Money is integer minor units plus an ISO currency. Every lifecycle is a `Status` plus an explicit
`TRANSITIONS` table; only `payments.services` changes a status, under a row lock. Every outbound
Stripe call uses an idempotency key derived from the row's id and the step (`idempotency_key()`),
so a retried step can never charge, transfer or refund twice.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _transitions(table: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    return {status: frozenset(targets) for status, targets in table.items()}


class StripeSteps(models.Model):
    """A row's calls to Stripe (payments/stripe_calls.py): idempotency keys derived from the row,
    a new key once a call failed in a way that may have done the work, and the resume sweep's
    attempts (parked for moderators after PAYMENTS_RESUME_MAX_ATTEMPTS)."""

    KEY_PREFIX: ClassVar[str]

    # Bumped when a call failed after Stripe may have done the work (5xx, timeout, lost
    # connection): Stripe replays that failure for the old key, so the next call first looks the
    # object up by our reference, then creates with a new key only if nothing exists.
    key_generation = models.PositiveSmallIntegerField(default=0)
    # The last error of a Stripe call (network, 5xx, 409, 429), for moderators.
    last_error = models.CharField(max_length=500, blank=True)
    resume_attempts = models.PositiveSmallIntegerField(default=0)
    parked_at = models.DateTimeField(
        null=True, blank=True, help_text=_("left for a moderator after repeated failures")
    )

    class Meta:
        abstract = True

    def idempotency_key(self, step: str) -> str:
        key = f"{self.KEY_PREFIX}:{self.pk}:{step}"
        return f"{key}:{self.key_generation}" if self.key_generation else key


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


class Payment(StripeSteps):
    """One buyer payment (a PaymentIntent) for an opaque caller reference such as "trade:42"."""

    KEY_PREFIX = "payment"

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

    S = Status
    TRANSITIONS = _transitions(
        {
            S.PENDING: {S.REQUIRES_ACTION, S.AUTHORISED, S.CAPTURED, S.FAILED, S.CANCELED},
            S.REQUIRES_ACTION: {S.AUTHORISED, S.CAPTURED, S.FAILED, S.CANCELED},
            S.AUTHORISED: {S.CAPTURED, S.CANCELED, S.FAILED},
            S.FAILED: set(),
            S.CANCELED: set(),
            S.CAPTURED: {S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED, S.DISPUTE_LOST},
            S.PARTIALLY_REFUNDED: {S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED, S.DISPUTE_LOST},
            S.REFUNDED: {S.DISPUTED, S.DISPUTE_LOST},
            S.DISPUTED: {S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTE_LOST},
            S.DISPUTE_LOST: set(),
        }
    )
    PRE_CAPTURE = frozenset({S.PENDING, S.REQUIRES_ACTION, S.AUTHORISED})
    CAPTURED_STATES = frozenset({S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED, S.DISPUTE_LOST})

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Owned by the caller ("trade:42"); payments never interprets it.
    reference = models.CharField(max_length=80, db_index=True)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation", on_delete=models.PROTECT, related_name="payments"
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
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    payment_method_id = models.CharField(max_length=255)
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_charge_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    client_secret = models.CharField(
        max_length=255, blank=True, help_text=_("for 3-D Secure, shown to the buyer")
    )
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
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


class PaymentEvent(models.Model):
    """Every status change of a payment; also the outbox through which outcomes reach the caller."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20, choices=Payment.Status.choices)
    to_status = models.CharField(max_length=20, choices=Payment.Status.choices)
    reason = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
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


class Refund(StripeSteps):
    KEY_PREFIX = "refund"

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund to the buyer")
        # Stripe may show the uncaptured part of a partial capture as a refund: nothing of ours moves.
        CAPTURE_RELEASE = "capture_release", _("Uncaptured part released")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    S = Status
    TRANSITIONS = _transitions(
        {
            S.PENDING: {S.SUCCEEDED, S.FAILED, S.CANCELED},
            S.SUCCEEDED: set(),
            S.FAILED: set(),
            S.CANCELED: set(),
        }
    )

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REFUND)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"refund {self.stripe_refund_id or self.pk}: {self.amount} {self.currency}"


class Dispute(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    S = Status
    TRANSITIONS = _transitions({S.OPEN: {S.WON, S.LOST}, S.WON: set(), S.LOST: set()})

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    stripe_status = models.CharField(max_length=32, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="dispute_amount_positive")]

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id} ({self.status})"


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


class Payout(StripeSteps):
    """A batch of a seller's payable balance sent as one Transfer to their Connect account."""

    KEY_PREFIX = "payout"

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending (transfer being sent)")
        IN_TRANSIT = "in_transit", _("In transit")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Failed")
        REVERSED = "reversed", _("Reversed")

    S = Status
    TRANSITIONS = _transitions(
        {
            S.PENDING: {S.IN_TRANSIT, S.FAILED},
            S.IN_TRANSIT: {S.PAID, S.FAILED, S.REVERSED},
            S.PAID: {S.FAILED, S.REVERSED},
            S.FAILED: {S.REVERSED},
            S.REVERSED: set(),
        }
    )

    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    connect_account = models.ForeignKey(ConnectAccount, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    amount_reversed = models.BigIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    transfer_group = models.CharField(max_length=80, blank=True)
    stripe_payout_id = models.CharField(max_length=255, blank=True, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    transferred_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
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


class PayoutEvent(models.Model):
    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, choices=Payout.Status.choices)
    to_status = models.CharField(max_length=12, choices=Payout.Status.choices)
    reason = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"payout {self.payout_id}: {self.from_status} → {self.to_status}"


class PayoutReversal(StripeSteps):
    """Money pulled back from a seller's Connect account (a Transfer Reversal)."""

    KEY_PREFIX = "payout_reversal"

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    S = Status
    TRANSITIONS = _transitions({S.PENDING: {S.SUCCEEDED, S.FAILED}, S.SUCCEEDED: set(), S.FAILED: set()})

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="reversals")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    stripe_reversal_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

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


class StripeEvent(models.Model):
    """An inbound Stripe event, stored raw before anything else happens; processed by a task."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSING = "processing", _("Processing")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    api_version = models.CharField(max_length=64, blank=True)
    account = models.CharField(max_length=255, blank=True, help_text=_("Connect account the event is about"))
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
    kind = models.CharField(max_length=24, choices=Kind.choices)
    stripe_object_id = models.CharField(max_length=255, blank=True)
    balance_transaction_id = models.CharField(max_length=255, blank=True)
    ledger_transaction = models.ForeignKey(
        "payments.LedgerTransaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stripe_amount = models.BigIntegerField(null=True, blank=True)
    ledger_amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    detail = models.CharField(max_length=500)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.TextField(blank=True)

    class Meta:
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
