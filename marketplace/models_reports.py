"""Reports (issue 14): a seller reports a buyer organisation, a buyer reports a listing; a
moderator resolves or dismisses each with a note. Reports are never deleted."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import StatusEvent


class Report(models.Model):
    class Reason(models.TextChoices):
        MISUSE_OF_DATA = "misuse_of_data", _("Misuse of data")
        UNWANTED_CONTACT = "unwanted_contact", _("Spam or unwanted contact")
        INACCURATE_LISTING = "inaccurate_listing", _("Inaccurate listing")
        SUSPECTED_FRAUD = "suspected_fraud", _("Suspected fraud")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")
        DISMISSED = "dismissed", _("Dismissed")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.OPEN: frozenset({Status.RESOLVED, Status.DISMISSED}),
        Status.RESOLVED: frozenset(),
        Status.DISMISSED: frozenset(),
    }
    DETAILS_MAX_LENGTH = 2000

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # a seller (web), or the member who created the API key a buyer reported with (may be unknown)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports_made",
        verbose_name=_("reporter"),
    )
    reporter_organisation = models.ForeignKey(
        "accounts.BuyerOrganisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports_made",
        verbose_name=_("reporting organisation"),
    )
    # the subject: exactly one of them
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("reported organisation"),
    )
    listing = models.ForeignKey(
        "listings.Listing",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("reported listing"),
    )
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    details = models.TextField(_("details"), blank=True)
    # what the reporter saw when reporting (trades and grants with the organisation; the listing's state)
    context = models.JSONField(_("context"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("reported at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        constraints = [
            models.CheckConstraint(
                condition=Q(organisation__isnull=False, listing__isnull=True)
                | Q(organisation__isnull=True, listing__isnull=False),
                name="report_one_subject",
            )
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="report_queue")]

    def __str__(self) -> str:
        subject = self.organisation or self.listing
        return f"{self.get_reason_display()}: {subject}"


class ReportEvent(StatusEvent):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=Report.Status.choices)
    to_status = models.CharField(max_length=10, choices=Report.Status.choices)

    def __str__(self) -> str:
        return f"report {self.report_id}: {self.from_status} → {self.to_status}"
