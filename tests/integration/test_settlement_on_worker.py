"""A bid through the API is settled by real Celery worker processes through Redis, against the
Stripe sandboxes, until the buyer can read the data."""

from __future__ import annotations

import time

import pytest

from marketplace.models import AccessGrant, Trade
from tests.invariants import assert_invariants
from tests.marketplace.conftest import active_listing
from tests.payments.conftest import buyer, eager_celery, stripe_sandbox, stripe_settings  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_buy_now_is_settled_by_workers_and_the_data_delivered(celery_worker_process, buyer, api_client_for):  # noqa: F811
    celery_worker_process("settlement,default,webhooks", concurrency=2)
    listing = active_listing(pricing_mode="fixed", floor=1500)
    api = api_client_for(buyer)

    response = api.post("/api/v1/bids/", {"listing": str(listing.public_id)}, format="json")

    assert response.status_code == 201, response.content
    trade = Trade.objects.get(bid__public_id=response.json()["id"])
    assert wait_for(lambda: Trade.objects.get(pk=trade.pk).status == Trade.Status.SETTLED)
    assert AccessGrant.objects.get(trade_line__trade=trade).status == "active"
    records = api.get(f"/api/v1/trades/{trade.public_id}/records/")
    assert records.status_code == 200
    (record,) = records.json()["results"]
    assert record["data"]["region"] == "FR-IDF" and record["data"]["postcode"] == "75011"
    assert_invariants(with_stripe=True)
