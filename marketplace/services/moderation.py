"""A moderator retries a failed outbound webhook delivery from the admin (issue 14), with a
reason, audited: the organisation's own redelivery (webhooks.webhook_delivery_redeliver)."""

from __future__ import annotations

from accounts.models import User
from core import audit
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.models import WebhookDelivery
from marketplace.services.webhooks import webhook_delivery_redeliver


def webhook_delivery_retry(*, delivery_id: int, moderator: User, reason: str) -> WebhookDelivery:
    """Send a failed delivery again now (one attempt, as the organisation's redelivery does)."""
    if moderator is None or moderator.role != User.Role.MODERATOR:
        raise Forbidden("moderator_required", "Only a moderator can do this.")
    if not reason.strip():
        raise InvalidInput(
            "reason_required", "Give a reason: every moderator action records why.", field="reason"
        )
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).select_related("endpoint").first()
    if delivery is None:
        raise NotFound("not_found", "No such webhook delivery.")
    if delivery.status != WebhookDelivery.Status.FAILED:
        raise Conflict(
            "nothing_to_retry", f"This delivery is {delivery.status}: only failed ones are retried."
        )
    retried = webhook_delivery_redeliver(
        organisation=delivery.endpoint.organisation, delivery_public_id=delivery.public_id
    )
    audit.record(
        "webhook_delivery.retried",
        retried,
        reason=reason.strip(),
        changes={"status": [WebhookDelivery.Status.FAILED, retried.status]},
        actor=moderator,
    )
    return retried
