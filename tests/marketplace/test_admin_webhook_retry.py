"""A moderator retries a failed outbound webhook delivery from the admin (issue 14), with a
reason, audited: it is sent again as the organisation's own redelivery would."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from marketplace.models import WebhookDelivery
from marketplace.services import webhook_delivery_attempt
from tests.factories import OrganisationFactory
from tests.marketplace.test_webhooks import emit, queued, receiver, register  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/admin/marketplace/webhookdelivery/"


def retry(client, delivery, reason: str = "Receiver fixed"):
    return client.post(
        URL,
        {"action": "retry", "_selected_action": [delivery.pk], "apply": "1", "reason": reason},
        follow=True,
    )


def test_a_failed_delivery_is_sent_again(receiver, api_client_for, queued, moderator_client, moderator):  # noqa: F811
    organisation = OrganisationFactory()
    register(api_client_for(organisation), receiver.url())
    (event,) = emit(organisation)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", last_error="HTTP 500")

    refused = retry(moderator_client, delivery, reason="")
    assert refused.status_code == 200 and WebhookDelivery.objects.get().status == "failed"

    retry(moderator_client, delivery)

    delivery.refresh_from_db()
    assert delivery.status == "pending" and queued[-1] == delivery.pk
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    assert receiver.delivered_event_ids() == [str(event.public_id)]
    entry = AuditEntry.objects.get(action="webhook_delivery.retried")
    assert (entry.actor, entry.reason) == (moderator, "Receiver fixed")

    page = retry(moderator_client, delivery)  # succeeded now: nothing to retry
    assert "only failed ones are retried" in page.content.decode()
    assert AuditEntry.objects.filter(action="webhook_delivery.retried").count() == 1
