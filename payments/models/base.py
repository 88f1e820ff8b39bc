"""What the Stripe-facing rows share: idempotency keys per step (`StripeSteps`) and, for the rows
whose lifecycle Stripe drives (Payment, Refund, Payout, PayoutReversal), the operation fields
and the event row of each status change (`StripeOperation`).

Money is integer minor units plus an ISO currency. Every lifecycle is a `Status` plus an explicit
`TRANSITIONS` table; only `payments.services` changes a status, under a row lock
(payments.services.payment_status.operation_transition). Every outbound Stripe call uses an
idempotency key derived from the row's id and the step (`idempotency_key()`), so a retried step
can never charge, transfer or refund twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _transitions(table: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    return {status: frozenset(targets) for status, targets in table.items()}


class StripeSteps(models.Model):
    """A row's calls to Stripe (payments/stripe_calls.py): idempotency keys derived from the row,
    a new key once a call failed in a way that may have done the work, and the resume sweep's
    attempts (parked for moderators after PAYMENTS_RESUME_MAX_ATTEMPTS)."""

    KEY_PREFIX: ClassVar[str]
    created_at: datetime  # a DateTimeField on every concrete subclass (the Stripe lookups' cutoff)

    # Bumped when a call failed after Stripe may have done the work (5xx, timeout, lost
    # connection): Stripe replays that failure for the old key, so the next call first looks the
    # object up by our reference, then creates with a new key only if nothing exists.
    key_generation = models.PositiveSmallIntegerField(default=0)
    # The last error of a Stripe call (network, 5xx, 409, 429), for moderators.
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    resume_attempts = models.PositiveSmallIntegerField(default=0)
    parked_at = models.DateTimeField(
        _("parked at"), null=True, blank=True, help_text=_("left for a moderator after repeated failures")
    )

    class Meta:
        abstract = True

    def idempotency_key(self, step: str) -> str:
        key = f"{self.KEY_PREFIX}:{self.pk}:{step}"
        return f"{key}:{self.key_generation}" if self.key_generation else key


class StripeOperation(StripeSteps):
    """A row whose lifecycle Stripe drives: Payment, Refund, Payout, PayoutReversal. Each declares
    its `Status`, its `status` field (their widths differ), its `TRANSITIONS` table and the model
    of its event rows (`EVENT_MODEL`, one row per status change, with a foreign key to it); the
    one transition service is payments.services.payment_status.operation_transition."""

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]]
    EVENT_MODEL: ClassVar[str]  # "payments.PaymentEvent"

    # Why Stripe refused or failed the operation (a decline code, a bank's reason), for people.
    failure_code = models.CharField(_("failure code"), max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
