"""Bids, trades, access grants (licences), the access log and deletion notices.

Each lifecycle is a Status plus an explicit transitions table, changed only by the one service
that locks the row, checks the move, writes an event row and commits (marketplace.services).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts import taxonomy
from accounts.models import BuyerOrganisation
from core.models import StatusEvent


class Bid(models.Model):
    class Kind(models.TextChoices):
        BUY_NOW = "buy_now", _("Buy now (fixed price)")
        AUCTION = "auction", _("Sealed auction bid")
        AUDIENCE = "audience", _("Audience bundle")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", pgettext_lazy("bid", "Expired")
        REJECTED = "rejected", _("Rejected")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.OPEN: frozenset({Status.WON, Status.LOST, Status.CANCELLED, Status.EXPIRED, Status.REJECTED}),
        Status.WON: frozenset(),
        Status.LOST: frozenset({Status.WON}),  # the next bidder, when the winner's payment fails
        Status.CANCELLED: frozenset(),
        Status.EXPIRED: frozenset(),
        Status.REJECTED: frozenset(),
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Both foreign keys are indexed by the leading column of bid_organisation and bid_ranking.
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation", on_delete=models.PROTECT, related_name="bids", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    listing = models.ForeignKey(
        "listings.Listing",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bids",
        db_index=False,
    )
    # listing bids: the price of the whole listing; audience bids: the maximum price per record
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    amount_set_at = models.DateTimeField(default=timezone.now, help_text=_("ties go to the earlier amount"))
    purpose = models.CharField(max_length=32, choices=taxonomy.Purpose.choices)
    licence_days = models.PositiveSmallIntegerField()
    criteria = models.JSONField(null=True, blank=True, help_text=_("audience bids: segment criteria"))
    max_records = models.PositiveIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    status_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "listing"],
                condition=Q(status="open", listing__isnull=False),
                name="bid_one_open_per_organisation_listing",
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="bid_amount_positive"),
            models.CheckConstraint(
                condition=Q(
                    kind="audience", listing__isnull=True, max_records__gt=0, expires_at__isnull=False
                )
                | (~Q(kind="audience") & Q(listing__isnull=False)),
                name="bid_kind_shape",
            ),
        ]
        indexes = [
            models.Index(fields=["listing", "status", "-amount_cents", "amount_set_at"], name="bid_ranking"),
            models.Index(
                fields=["expires_at"], condition=Q(status="open", kind="audience"), name="bid_audience_open"
            ),
            models.Index(fields=["organisation", "-created_at"], name="bid_organisation"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} bid {self.public_id} ({self.status})"


class BidEvent(StatusEvent):
    bid = models.ForeignKey(Bid, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=Bid.Status.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=Bid.Status.choices)
    amount_cents = models.BigIntegerField()

    def __str__(self) -> str:
        return f"bid {self.bid_id}: {self.from_status} → {self.to_status}"


class SettlementBatch(models.Model):
    """Trades of one buyer settled together: one authorisation, one capture, one ledger credit.

    A worker batches whatever trades of an organisation are due when it claims them, so under
    load one Stripe round trip serves many trades, and alone a trade is a batch of one.
    """

    organisation = models.ForeignKey("accounts.BuyerOrganisation", on_delete=models.PROTECT, related_name="+")
    authorised_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField(default=timezone.now)
    # Left by settlement waiting for the buyer to authenticate (requires_action); their payment
    # outcome re-drives it at once. Cleared by every claim: a held batch is never woken.
    awaiting_buyer = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"settlement batch {self.pk}"

    @property
    def payment_reference(self) -> str:
        return f"settlement-batch:{self.pk}"


class Trade(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Pending payment")
        PAID = "paid", _("Paid (authorised)")
        DELIVERED = "delivered", _("Delivered (access granted)")
        SETTLED = "settled", _("Settled")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")
        VOIDED = "voided", _("Voided (consent gone before delivery)")
        REFUNDED = "refunded", _("Refunded")
        DISPUTED = "disputed", _("Disputed")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING_PAYMENT: frozenset({Status.PAID, Status.PAYMENT_FAILED, Status.VOIDED}),
        Status.PAID: frozenset({Status.DELIVERED, Status.VOIDED}),
        Status.DELIVERED: frozenset({Status.SETTLED}),
        Status.SETTLED: frozenset({Status.REFUNDED, Status.DISPUTED}),
        Status.DISPUTED: frozenset({Status.SETTLED, Status.REFUNDED}),
        Status.PAYMENT_FAILED: frozenset(),
        Status.VOIDED: frozenset(),
        Status.REFUNDED: frozenset(),
    }
    UNSETTLED = (Status.PENDING_PAYMENT, Status.PAID)
    FAILED = (Status.PAYMENT_FAILED, Status.VOIDED)  # nothing was sold: a held listing goes back

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation", on_delete=models.PROTECT, related_name="trades"
    )
    bid = models.OneToOneField(Bid, on_delete=models.PROTECT, related_name="trade")
    listing = models.ForeignKey(
        "listings.Listing", null=True, blank=True, on_delete=models.PROTECT, related_name="trades"
    )
    purpose = models.CharField(max_length=32, choices=taxonomy.Purpose.choices)
    licence_days = models.PositiveSmallIntegerField()
    price_per_record_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_PAYMENT)
    status_reason = models.CharField(max_length=200, blank=True)
    charged_cents = models.BigIntegerField(default=0)
    fee_bps = models.PositiveIntegerField()
    batch = models.ForeignKey(
        SettlementBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="trades"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # settlement bookkeeping: a sweep re-drives trades whose attempt went quiet
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending_payment", "paid", "delivered"]),
                name="trade_to_settle",
            ),
            models.Index(fields=["organisation", "-created_at"], name="trade_organisation"),
        ]

    def __str__(self) -> str:
        return f"trade {self.public_id} ({self.status})"


class TradeLine(models.Model):
    """One seller's part of a trade."""

    AUDIT_NAME = "trade_line"  # its transitions (core.lifecycles) are in the audit trail

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        VOIDED = "voided", _("Voided")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.DELIVERED, Status.VOIDED}),
        Status.DELIVERED: frozenset(),
        Status.VOIDED: frozenset(),
    }

    trade = models.ForeignKey(Trade, on_delete=models.PROTECT, related_name="lines")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trade_lines")
    categories_mask = models.BigIntegerField()
    price_cents = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trade", "seller"], name="trade_line_one_per_seller"),
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="trade_line_price_positive"),
        ]
        indexes = [models.Index(fields=["seller", "status"], name="trade_line_seller")]

    def __str__(self) -> str:
        return f"line {self.pk} of trade {self.trade_id}"

    @property
    def categories(self) -> list[str]:
        return taxonomy.codes_of(self.categories_mask, taxonomy.CATEGORY_CODES)


class TradeEvent(StatusEvent):
    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=Trade.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Trade.Status.choices)

    def __str__(self) -> str:
        return f"trade {self.trade_id}: {self.from_status} → {self.to_status}"


class TradeLineEvent(StatusEvent):
    trade_line = models.ForeignKey(TradeLine, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=TradeLine.Status.choices)
    to_status = models.CharField(max_length=10, choices=TradeLine.Status.choices)

    def __str__(self) -> str:
        return f"trade line {self.trade_line_id}: {self.from_status} → {self.to_status}"


class AccessGrant(models.Model):
    """A buyer's licence to one seller's purchased categories, for one purpose, until ends_at."""

    class Status(models.TextChoices):
        # a licence (feminine in French)
        ACTIVE = "active", pgettext_lazy("licence", "Active")
        EXPIRED = "expired", pgettext_lazy("licence", "Expired")
        REVOKED = "revoked", pgettext_lazy("licence", "Revoked")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.ACTIVE: frozenset({Status.EXPIRED, Status.REVOKED}),
        Status.EXPIRED: frozenset(),
        Status.REVOKED: frozenset(),
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation", on_delete=models.PROTECT, related_name="access_grants"
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_grants"
    )
    trade_line = models.OneToOneField(TradeLine, on_delete=models.PROTECT, related_name="access_grant")
    categories_mask = models.BigIntegerField()
    purpose = models.CharField(max_length=32, choices=taxonomy.Purpose.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "status", "ends_at"], name="access_grant_buyer"),
            models.Index(fields=["seller", "status"], name="access_grant_seller"),
        ]

    def __str__(self) -> str:
        return f"access {self.public_id} ({self.status})"

    @property
    def categories(self) -> list[str]:
        return taxonomy.codes_of(self.categories_mask, taxonomy.CATEGORY_CODES)


class AccessGrantEvent(StatusEvent):
    access_grant = models.ForeignKey(AccessGrant, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=8, choices=AccessGrant.Status.choices)
    to_status = models.CharField(max_length=8, choices=AccessGrant.Status.choices)

    def __str__(self) -> str:
        return f"access grant {self.access_grant_id}: {self.from_status} → {self.to_status}"


class AccessLog(models.Model):
    """Every read of purchased data, shown to the seller."""

    grant = models.ForeignKey(AccessGrant, on_delete=models.PROTECT, related_name="reads")
    api_key = models.ForeignKey("accounts.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["grant", "read_at"], name="access_log_grant")]

    def __str__(self) -> str:
        return f"read of {self.grant_id} at {self.read_at:%Y-%m-%d %H:%M}"


class DeletionNotice(models.Model):
    """Tells a buyer organisation to delete a seller's data it received, by a deadline."""

    class Status(models.TextChoices):
        # an "avis de suppression" in French (masculine), on every page
        SENT = "sent", pgettext_lazy("deletion notice", "Sent")
        ACKNOWLEDGED = "acknowledged", pgettext_lazy("deletion notice", "Acknowledged")
        OVERDUE = "overdue", pgettext_lazy("deletion notice", "Overdue")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.SENT: frozenset({Status.ACKNOWLEDGED, Status.OVERDUE}),
        Status.OVERDUE: frozenset({Status.ACKNOWLEDGED}),  # late, but the buyer did delete
        Status.ACKNOWLEDGED: frozenset(),
    }

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation",
        on_delete=models.PROTECT,
        related_name="deletion_notices",
        verbose_name=_("organisation"),
    )
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    categories_mask = models.BigIntegerField()
    reason = models.CharField(max_length=16)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    deadline = models.DateTimeField(_("deadline"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SENT)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("deletion notice")
        verbose_name_plural = _("deletion notices")
        indexes = [
            models.Index(fields=["organisation", "status"], name="deletion_notice_buyer"),
            models.Index(fields=["deadline"], condition=Q(status="sent"), name="deletion_notice_due"),
        ]

    def __str__(self) -> str:
        return f"deletion notice {self.public_id} ({self.status})"

    @property
    def categories(self) -> list[str]:
        return taxonomy.codes_of(self.categories_mask, taxonomy.CATEGORY_CODES)


class DeletionNoticeEvent(StatusEvent):
    deletion_notice = models.ForeignKey(DeletionNotice, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=DeletionNotice.Status.choices)
    to_status = models.CharField(max_length=16, choices=DeletionNotice.Status.choices)

    def __str__(self) -> str:
        return f"deletion notice {self.deletion_notice_id}: {self.from_status} → {self.to_status}"


class BuyerFailingPayments(BuyerOrganisation):
    """Moderators' view of the buyer organisations whose payments keep failing
    (marketplace.selectors.organisations_failing_payments); no table of its own."""

    class Meta:
        proxy = True
        verbose_name = _("buyer with failing payments")
        verbose_name_plural = _("buyers with failing payments")


class BuyerDeletionOverdue(BuyerOrganisation):
    """Moderators' view of the buyer organisations with overdue deletion notices (and whether
    they may bid: marketplace.services.deletion_duty_clear); no table of its own."""

    class Meta:
        proxy = True
        verbose_name = _("buyer with overdue deletions")
        verbose_name_plural = _("buyers with overdue deletions")


# Reports (issue 14) live in their own module; imported here so Django registers them.
from marketplace.models_reports import Report, ReportEvent  # noqa: E402

# Outbound webhooks live in their own module; imported here so Django registers them.
from marketplace.models_webhooks import (  # noqa: E402
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

__all__ = [
    "AccessGrant",
    "AccessGrantEvent",
    "AccessLog",
    "Bid",
    "BidEvent",
    "BuyerDeletionOverdue",
    "BuyerFailingPayments",
    "DeletionNotice",
    "DeletionNoticeEvent",
    "Report",
    "ReportEvent",
    "SettlementBatch",
    "Trade",
    "TradeEvent",
    "TradeLine",
    "TradeLineEvent",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventType",
]
