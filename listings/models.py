from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts import taxonomy


class Listing(models.Model):
    """One seller's data categories (several = a seller bundle) offered under terms."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING_REVIEW = "pending_review", _("Pending review")
        ACTIVE = "active", pgettext_lazy("listing", "Active")
        HELD = "held", _("Held: payment in progress")
        PAUSED = "paused", _("Paused")
        SOLD = "sold", _("Sold")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        SUSPENDED = "suspended", _("Suspended")
        EXPIRED = "expired", pgettext_lazy("listing", "Expired")

    class PricingMode(models.TextChoices):
        FIXED = "fixed", _("Fixed price (buy now)")
        AUCTION = "auction", _("Auction (sealed bids)")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.DRAFT: frozenset({Status.PENDING_REVIEW, Status.ACTIVE, Status.WITHDRAWN}),
        Status.PENDING_REVIEW: frozenset(
            {Status.ACTIVE, Status.DRAFT, Status.PAUSED, Status.WITHDRAWN, Status.SUSPENDED}
        ),
        Status.ACTIVE: frozenset(
            {Status.PAUSED, Status.HELD, Status.WITHDRAWN, Status.SUSPENDED, Status.EXPIRED}
        ),
        # held while the buyer's payment is authorised: sold once the trade settles, back on
        # the market (or paused, or withdrawn, as consent and the seller allow) if it fails
        Status.HELD: frozenset({Status.SOLD, Status.ACTIVE, Status.PAUSED, Status.WITHDRAWN}),
        Status.PAUSED: frozenset(
            {Status.ACTIVE, Status.PENDING_REVIEW, Status.WITHDRAWN, Status.SUSPENDED, Status.EXPIRED}
        ),
        Status.SUSPENDED: frozenset({Status.PAUSED, Status.WITHDRAWN}),
        Status.SOLD: frozenset(),
        Status.WITHDRAWN: frozenset(),
        Status.EXPIRED: frozenset(),
    }
    LIVE = (Status.DRAFT, Status.PENDING_REVIEW, Status.ACTIVE, Status.PAUSED)
    # The audit trail's verb for a move (core.audit), where the new status alone does not say it.
    AUDIT_VERBS: dict[tuple[str, str], str] = {
        (Status.PENDING_REVIEW, Status.ACTIVE): "approved",
        (Status.PENDING_REVIEW, Status.DRAFT): "rejected",
        (Status.DRAFT, Status.ACTIVE): "auto_approved",
        (Status.PAUSED, Status.ACTIVE): "resumed",
        (Status.HELD, Status.ACTIVE): "released",
        (Status.DRAFT, Status.PENDING_REVIEW): "submitted",
        (Status.PAUSED, Status.PENDING_REVIEW): "submitted",
    }

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="listings", verbose_name=_("seller")
    )
    categories_mask = models.BigIntegerField(help_text=_("bits over taxonomy.CATEGORY_CODES"))
    purposes_mask = models.BigIntegerField(help_text=_("bits over taxonomy.PURPOSE_CODES"))
    licence_days = models.PositiveSmallIntegerField()
    pricing_mode = models.CharField(_("pricing"), max_length=8, choices=PricingMode.choices)
    floor_price_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    auction_ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(blank=True)
    suggested_price_cents = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("listing")
        verbose_name_plural = _("listings")
        constraints = [
            models.CheckConstraint(condition=Q(categories_mask__gt=0), name="listing_has_categories"),
            models.CheckConstraint(condition=Q(purposes_mask__gt=0), name="listing_has_purposes"),
            models.CheckConstraint(
                condition=Q(licence_days__in=taxonomy.LICENCE_DAYS), name="listing_licence_days_allowed"
            ),
            models.CheckConstraint(
                condition=Q(floor_price_cents__gt=0, floor_price_cents__lte=100_000_00),
                name="listing_floor_price_range",
            ),
            models.CheckConstraint(
                condition=Q(pricing_mode="fixed", auction_ends_at__isnull=True)
                | Q(pricing_mode="auction", auction_ends_at__isnull=False),
                name="listing_auction_has_end",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="listing_browse"),
            # what buyers browse, in the API's cursor orderings (newest / oldest and by price, ties
            # by id): PostgreSQL walks one of them in order and stops at the page size
            models.Index(
                fields=["created_at", "id"], condition=Q(status="active"), name="listing_active_newest"
            ),
            models.Index(
                fields=["floor_price_cents", "id"], condition=Q(status="active"), name="listing_active_price"
            ),
            models.Index(fields=["seller", "status"], name="listing_seller_status"),
            models.Index(
                fields=["auction_ends_at"],
                condition=Q(status="active", pricing_mode="auction"),
                name="listing_auction_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{', '.join(self.categories)} ({self.status})"

    @staticmethod
    def audit_action(from_status: str, to_status: str) -> str:
        """ "listing.approved", "listing.rejected", "listing.submitted", "listing.suspended"…"""
        return f"listing.{Listing.AUDIT_VERBS.get((from_status, to_status), to_status)}"

    @property
    def categories(self) -> list[str]:
        return taxonomy.codes_of(self.categories_mask, taxonomy.CATEGORY_CODES)

    @property
    def purposes(self) -> list[str]:
        return taxonomy.codes_of(self.purposes_mask, taxonomy.PURPOSE_CODES)


class ListingEvent(models.Model):
    """Audit trail: every status change of a listing, by the one transition service."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=Listing.Status.choices)
    to_status = models.CharField(max_length=16, choices=Listing.Status.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"
