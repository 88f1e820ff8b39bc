from django.db import models
from django.utils import timezone


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
