"""The deletion duty: an organisation with more overdue deletion notices than
DELETION_OVERDUE_BID_LIMIT cannot bid (buy now, sealed bids, raises, audience bids) until it
acknowledges them or a moderator clears the block in the admin, with a reason; the API says why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import DeletionDutyClearance
from marketplace import services
from marketplace.models import Bid, DeletionNotice
from tests.factories import PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_bids import audience_body
from tests.marketplace.test_api_delivery import queued  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db

BIDS = "/api/v1/bids/"


@pytest.fixture
def buyer(db):
    return PayingOrganisationFactory()


@pytest.fixture
def client(api_client_for, buyer):
    return api_client_for(buyer)


def notice(buyer, *, status=DeletionNotice.Status.OVERDUE, days_late: int = 3) -> DeletionNotice:
    now = timezone.now()
    return DeletionNotice.objects.create(
        organisation=buyer,
        seller=make_seller(),
        categories_mask=1,
        reason="revoked",
        created_at=now - timedelta(days=30 + days_late),
        deadline=now - timedelta(days=days_late),
        status=status,
    )


def assert_blocked(response, overdue: int) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "deletion_overdue"
    assert body["detail"].startswith(f"{overdue} deletion notice")
    assert "/api/v1/deletion-notices/?status=overdue" in body["detail"]


def test_an_overdue_notice_blocks_every_way_to_bid_and_nothing_is_written(client, buyer):
    notice(buyer)
    auction, fixed = active_listing(), active_listing(pricing_mode="fixed")

    assert_blocked(
        client.post(BIDS, {"listing": str(auction.public_id), "amount_cents": 1200}, format="json"), 1
    )
    assert_blocked(client.post(BIDS, {"listing": str(fixed.public_id)}, format="json"), 1)
    assert_blocked(client.post("/api/v1/audience-bids/", audience_body(), format="json"), 1)

    assert not Bid.objects.exists()
    fixed.refresh_from_db()
    assert fixed.status == "active"


def test_a_notice_not_yet_overdue_or_acknowledged_does_not_block(client, buyer):
    notice(buyer, status=DeletionNotice.Status.SENT, days_late=-3)
    notice(buyer, status=DeletionNotice.Status.ACKNOWLEDGED)
    listing = active_listing()

    response = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1200}, format="json")

    assert response.status_code == 201, response.content


def test_raising_is_bidding_but_cancelling_and_reading_stay_open(client, buyer):
    listing = active_listing()
    bid = client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1200}, format="json").json()
    overdue = notice(buyer)

    assert_blocked(client.patch(f"{BIDS}{bid['id']}/", {"amount_cents": 1500}, format="json"), 1)
    assert client.get("/api/v1/deletion-notices/?status=overdue").json()["results"][0]["id"] == str(
        overdue.public_id
    )
    assert client.delete(f"{BIDS}{bid['id']}/").json()["status"] == "cancelled"


def test_the_setting_sets_how_many_overdue_notices_are_tolerated(client, buyer, settings):
    settings.DELETION_OVERDUE_BID_LIMIT = 1
    notice(buyer)
    body = {"listing": str(active_listing().public_id), "amount_cents": 1200}
    assert client.post(BIDS, body, format="json").status_code == 201

    notice(buyer)
    assert_blocked(client.post(BIDS, {**body, "listing": str(active_listing().public_id)}, format="json"), 2)


def test_acknowledging_the_notices_lifts_the_block(client, buyer):
    overdue = notice(buyer)
    body = {"listing": str(active_listing().public_id), "amount_cents": 1200}
    assert_blocked(client.post(BIDS, body, format="json"), 1)

    acknowledged = client.post(f"/api/v1/deletion-notices/{overdue.public_id}/acknowledge/")

    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    assert client.post(BIDS, body, format="json").status_code == 201


def test_a_moderator_clears_the_block_in_the_admin_with_a_reason(client, buyer, moderator, moderator_client):
    notice(buyer)
    notice(buyer, days_late=10)
    body = {"listing": str(active_listing().public_id), "amount_cents": 1200}
    assert_blocked(client.post(BIDS, body, format="json"), 2)
    url = "/admin/marketplace/buyerdeletionoverdue/"
    listed = moderator_client.get(url)
    assert listed.status_code == 200 and buyer.legal_name in listed.content.decode()

    asked = moderator_client.post(url, {"action": "allow_bidding", "_selected_action": [buyer.pk]})
    assert asked.status_code == 200 and b"reason" in asked.content  # the form asks for a reason first
    assert not DeletionDutyClearance.objects.exists()
    done = moderator_client.post(
        url,
        {
            "action": "allow_bidding",
            "_selected_action": [buyer.pk],
            "apply": "1",
            "reason": "DPO confirmed deletion by phone",
        },
    )

    assert done.status_code == 302
    clearance = DeletionDutyClearance.objects.get()
    assert (clearance.organisation, clearance.actor, clearance.overdue_notices) == (buyer, moderator, 2)
    assert clearance.reason == "DPO confirmed deletion by phone"
    buyer.refresh_from_db()
    assert buyer.deletion_duty_cleared_at == clearance.cleared_at
    assert client.post(BIDS, body, format="json").status_code == 201
    assert DeletionNotice.objects.filter(status=DeletionNotice.Status.OVERDUE).count() == 2  # still followed


def test_a_clearance_forgives_what_was_overdue_then_not_what_falls_overdue_later(client, buyer, moderator):
    notice(buyer)
    services.deletion_duty_clear(organisation_id=buyer.pk, actor=moderator, reason="agreed with the buyer")
    later = notice(buyer, days_late=-1)  # due tomorrow: passes its deadline after the clearance
    DeletionNotice.objects.filter(pk=later.pk).update(
        deadline=timezone.now() + timedelta(seconds=1), status=DeletionNotice.Status.SENT
    )
    body = {"listing": str(active_listing().public_id), "amount_cents": 1200}
    assert client.post(BIDS, body, format="json").status_code == 201

    services.deletion_notices_flag_overdue(now=timezone.now() + timedelta(seconds=2))

    assert_blocked(client.post(BIDS, {**body, "listing": str(active_listing().public_id)}, format="json"), 1)


def test_a_clearance_needs_a_reason(buyer, moderator):
    from core.errors import InvalidInput

    notice(buyer)
    with pytest.raises(InvalidInput):
        services.deletion_duty_clear(organisation_id=buyer.pk, actor=moderator, reason="  ")
    assert not DeletionDutyClearance.objects.exists()


def test_the_check_costs_the_sealed_bid_no_statement(client, buyer):
    """Folded into the locked listing's statement: a blocked buyer's sealed bid is refused in the
    same number of statements as an allowed one reads before writing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    warm = active_listing()
    client.post(BIDS, {"listing": str(warm.public_id), "amount_cents": 1200}, format="json")
    notice(buyer)
    listing = active_listing()

    with CaptureQueriesContext(connection) as captured:
        assert_blocked(
            client.post(BIDS, {"listing": str(listing.public_id), "amount_cents": 1200}, format="json"), 1
        )

    statements = [q["sql"] for q in captured.captured_queries]
    assert len([s for s in statements if "marketplace_deletionnotice" in s]) == 1, statements
    assert any("FOR UPDATE" in s and "marketplace_deletionnotice" in s for s in statements), statements


@pytest.mark.django_db(transaction=True)
def test_an_open_audience_bid_buys_nothing_while_notices_are_overdue(settings, buyer, queued):  # noqa: F811
    """An audience bid placed before a notice fell overdue is not cleared by the worker or the
    sweep until the block lifts; then it clears as usual."""
    from tests.marketplace.test_audience import listed_seller, place

    settings.SEGMENT_MIN_SIZE = 2
    for floor in (100, 200):
        listed_seller(floor)
    bid = place(buyer, max_price=450, max_records=2)
    overdue = notice(buyer)

    assert services.audience_bid_clear(bid_id=bid.pk) is None
    services.audience_bids_sweep()
    bid.refresh_from_db()
    assert bid.status == "open"

    services.deletion_notice_acknowledge(organisation=buyer, notice_public_id=overdue.public_id)
    assert services.audience_bid_clear(bid_id=bid.pk) is not None
