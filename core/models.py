from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StatusEvent(models.Model):
    """One status change of a lifecycle row, written by its transition service in the same
    transaction (core.lifecycles). Each concrete event adds the foreign key to its row and
    `from_status` / `to_status` with the row's own choices."""

    reason = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["occurred_at", "id"]


class IdempotencyRecord(models.Model):
    """A buyer POST's Idempotency-Key: same key and body → same response; other body → 422.

    The organisation is referenced by its model label only (a lazy relation, no import), so core
    still depends on no app's code.
    """

    organisation = models.ForeignKey("accounts.BuyerOrganisation", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method_path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.organisation_id}:{self.key}"


class AuditEntry(models.Model):
    """One line of the audit trail (core.audit): append-only, never edited or deleted.

    The target is named by model label and primary key rather than a foreign key, so the trail
    outlives nothing it refers to and core depends on no app.
    """

    APPEND_ONLY = True  # the database refuses UPDATE and DELETE (core.append_only)

    SYSTEM = "system"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # the actor's role when they acted (seller, buyer, moderator…), "system" for the workers
    actor_role = models.CharField(max_length=16)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.target_repr}"


class Suspendable(models.Model):
    """A moderator may suspend the row's owner (a seller, a buyer organisation) with a reason,
    and reinstate it; what suspension stops is the owner's services' business."""

    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    suspended_reason = models.TextField(_("suspension reason"), blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("suspended by"),
    )

    class Meta:
        abstract = True

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None
