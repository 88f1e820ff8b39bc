"""Each of the six webhook events is emitted by the real flow that causes it, in its transaction,
and reaches the buyer's receiver signed: an auction closes (bid.won, bid.lost), the winner's card
is declined (payment.failed), the runner-up is offered the listing, pays and gets the data
(bid.won, trade.settled), the seller withdraws consent (access.revoked, with the deletion
deadline) and the buyer lets the deadline pass (notice.overdue). Against the Stripe sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ConsentGrant
from marketplace import services, tasks
from marketplace.models import DeletionNotice, Trade, WebhookEvent
from marketplace.services import webhook_delivery_attempt, webhook_endpoint_create
from tests.marketplace.conftest import active_listing
from tests.marketplace.settlement.conftest import settle_trade
from tests.marketplace.webhook_receiver import start_receiver
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    buyer,
    buyer_with_card,
    stripe_api,
    stripe_sandbox,
    stripe_settings,
)

pytestmark = pytest.mark.django_db(transaction=True)
DECLINES = "4000000000000341"  # attaches, then declines every charge


@pytest.fixture(autouse=True)
def eager_celery():
    """Not eager: settlement is driven by the test, deliveries are recorded and attempted here."""
    yield


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(tasks.webhook_deliver, "delay", lambda pk: sent.append(pk))
    return sent


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


def objects(organisation, event_type: str) -> list[dict]:
    return [
        e.payload["data"]["object"]
        for e in WebhookEvent.objects.filter(organisation=organisation, type=event_type).order_by("pk")
    ]


def test_the_six_events_come_from_the_real_flows(buyer_with_card, buyer, receiver, queued):  # noqa: F811
    declining = buyer_with_card(DECLINES)
    secrets = {}
    for organisation in (declining, buyer):
        _endpoint, secrets[organisation.pk] = webhook_endpoint_create(
            organisation=organisation, url=receiver.url(f"/org-{organisation.pk}"), event_types=["*"]
        )
    receiver.secrets = list(secrets.values())
    listing = active_listing(pricing_mode="auction", floor=1000, ends_in=timedelta(hours=2))
    top = services.bid_place(organisation=declining, listing_public_id=listing.public_id, amount_cents=3000)
    runner_up = services.bid_place(organisation=buyer, listing_public_id=listing.public_id, amount_cents=2000)
    assert not WebhookEvent.objects.exists()  # placing bids sends nothing

    # the auction closes: bid.won to the top bidder (with its trade), bid.lost to the runner-up
    services.auctions_close_due(now=timezone.now() + timedelta(hours=3))
    failed = Trade.objects.get(bid=top)
    (won,) = objects(declining, "bid.won")
    assert won == {**won, "id": str(top.public_id), "status": "won", "trade": str(failed.public_id)}
    (lost,) = objects(buyer, "bid.lost")
    assert lost["id"] == str(runner_up.public_id) and lost["status"] == "lost"
    assert lost["listing"] == str(listing.public_id)

    # the top bidder's card is declined: payment.failed; the runner-up is offered the listing
    assert settle_trade(failed.pk) == Trade.Status.PAYMENT_FAILED
    (payment_failed,) = objects(declining, "payment.failed")
    assert payment_failed["id"] == str(failed.public_id) and payment_failed["status"] == "payment_failed"
    assert payment_failed["status_reason"]
    offered = Trade.objects.get(bid=runner_up)
    (won_after,) = objects(buyer, "bid.won")
    assert won_after["trade"] == str(offered.public_id)

    # the runner-up pays and gets the data: trade.settled
    assert settle_trade(offered.pk) == Trade.Status.SETTLED
    (settled,) = objects(buyer, "trade.settled")
    assert settled == {
        **settled,
        "id": str(offered.public_id),
        "bid": str(runner_up.public_id),
        "status": "settled",
        "records": 1,
        "charged_cents": 2000,
    }

    # the seller withdraws consent: access.revoked with the deletion notice and its deadline
    seller = listing.seller
    account_services.consent_revoke(
        seller=seller, grant_id=ConsentGrant.objects.filter(seller=seller, status="active").first().pk
    )
    notice = DeletionNotice.objects.get(organisation=buyer)
    (revoked,) = objects(buyer, "access.revoked")
    assert revoked["status"] == "revoked" and revoked["trade"] == str(offered.public_id)
    assert revoked["deletion_notice"]["id"] == str(notice.public_id)
    assert revoked["deletion_deadline"] == notice.deadline.isoformat()

    # the deadline passes unacknowledged: notice.overdue
    services.deletion_notices_flag_overdue(now=notice.deadline + timedelta(seconds=1))
    (overdue,) = objects(buyer, "notice.overdue")
    assert overdue["id"] == str(notice.public_id) and overdue["status"] == "overdue"

    # nothing else was emitted
    assert sorted(WebhookEvent.objects.values_list("type", flat=True)) == sorted(
        [
            "bid.won",
            "bid.lost",
            "payment.failed",
            "bid.won",
            "trade.settled",
            "access.revoked",
            "notice.overdue",
        ]
    )
    # every event reaches its own organisation's endpoint, signed with its secret
    assert [webhook_delivery_attempt(delivery_id=pk) for pk in queued] == ["succeeded"] * 7
    assert receiver.unverified == []
    for request in receiver.received:
        organisation_id = int(request.path.removeprefix("/org-"))
        assert request.verified_with == [secrets[organisation_id]]
        assert WebhookEvent.objects.get(public_id=request.event["id"]).organisation_id == organisation_id
