"""Webhook deliveries run on real Celery worker processes (queue `webhooks`, through Redis): a
delivery queued when its event commits reaches the receiver, and one whose message was lost is
picked up by the beat sweep."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.utils import timezone

from marketplace import tasks
from marketplace.models import WebhookDelivery
from marketplace.services import webhook_endpoint_create, webhook_events_emit
from tests.factories import OrganisationFactory
from tests.marketplace.webhook_receiver import start_receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_deliveries_run_on_the_webhooks_queue_and_the_sweep_recovers_a_lost_message(
    celery_worker_process, monkeypatch
):
    receiver, server = start_receiver()
    try:
        celery_worker_process("webhooks")
        organisation = OrganisationFactory()
        _endpoint, secret = webhook_endpoint_create(
            organisation=organisation, url=receiver.url(), event_types=["*"]
        )
        receiver.secrets = [secret]

        with transaction.atomic():
            (sent,) = webhook_events_emit("bid.won", [(organisation.pk, {"object": "bid", "id": "b1"})])
        assert wait_for(lambda: receiver.delivered_event_ids() == [str(sent.public_id)])
        assert wait_for(lambda: WebhookDelivery.objects.get(event=sent).status == "succeeded")

        with monkeypatch.context() as patched:  # the message is lost (a broker outage at commit)
            patched.setattr(tasks.webhook_deliver, "delay", lambda pk: None)
            with transaction.atomic():
                (lost,) = webhook_events_emit("bid.lost", [(organisation.pk, {"object": "bid", "id": "b2"})])
        time.sleep(1)
        assert len(receiver.received) == 1

        # WEBHOOK_CLAIM_SECONDS later, the sweep (what beat sends every 30 s) queues it again
        WebhookDelivery.objects.filter(event=lost).update(queued_until=timezone.now())
        tasks.webhook_deliveries_due.delay()

        assert wait_for(lambda: receiver.delivered_event_ids() == [str(sent.public_id), str(lost.public_id)])
        assert receiver.unverified == []
    finally:
        server.shutdown()
        server.server_close()
