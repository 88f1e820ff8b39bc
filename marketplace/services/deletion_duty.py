"""The deletion duty: an organisation with more overdue deletion notices than
DELETION_OVERDUE_BID_LIMIT cannot bid (services._common._check_deletion_duty) until it
acknowledges them or a moderator clears the block here."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import lock_objects as account_locks
from accounts.models import DeletionDutyClearance, User
from core.errors import InvalidInput, NotFound
from marketplace import selectors


def deletion_duty_clear(*, organisation_id: int, actor: User | None, reason: str) -> DeletionDutyClearance:
    """Lift the bidding block: notices overdue by now stop counting (later ones count again).
    Appends a DeletionDutyClearance with the reason and how many notices were overdue. The
    notices themselves stay overdue, and moderators keep following them."""
    if not reason.strip():
        raise InvalidInput("reason_required", "Say why the organisation may bid again.", field="reason")
    with transaction.atomic(durable=True):
        organisation = account_locks.buyer_organisation(organisation_id)
        if organisation is None:
            raise NotFound("not_found", "No such organisation.")
        overdue = selectors.deletion_notices_blocking_bids(organisation).count()
        now = timezone.now()
        organisation.deletion_duty_cleared_at = now
        organisation.save(update_fields=["deletion_duty_cleared_at"])
        return DeletionDutyClearance.objects.create(
            organisation=organisation,
            overdue_notices=overdue,
            reason=reason.strip(),
            actor=actor,
            cleared_at=now,
        )
