"""examples/advertiser_day.py, the advertiser's example client, run as its own process against a
live server, real Celery workers (settlement and webhooks queues) and the Stripe sandboxes: it
sizes a segment, buys, gets `trade.settled` on its own loopback receiver, reads the records, gets
`access.revoked` when the seller withdraws consent, and acknowledges the deletion notice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from accounts import services as account_services
from accounts.models import ConsentGrant
from marketplace.models import DeletionNotice, Trade
from tests.marketplace.conftest import active_listing
from tests.payments.conftest import buyer, eager_celery, stripe_sandbox, stripe_settings  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "advertiser_day.py"


def wait_for(predicate, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_example_client_walks_an_advertisers_day(live_server, celery_worker_process, buyer):  # noqa: F811
    celery_worker_process("settlement,default,webhooks", concurrency=2)
    listing = active_listing(pricing_mode="fixed", floor=900)
    _, api_key = account_services.api_key_create(organisation=buyer, name="example client")

    lines: list[str] = []
    client = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE),
            "--base-url",
            live_server.url,
            "--api-key",
            api_key,
            "--settle-timeout",
            "90",
            "--revocation-timeout",
            "90",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = threading.Thread(target=lambda: lines.extend(iter(client.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        # the seller withdraws consent once the buyer has read the data
        assert wait_for(
            lambda: any(line.startswith("records:") for line in lines) or client.poll() is not None
        )
        assert Trade.objects.filter(listing=listing, status=Trade.Status.SETTLED).exists(), "".join(lines)
        grant = ConsentGrant.objects.get(seller=listing.seller, category="location", status="active")
        account_services.consent_revoke(seller=listing.seller, grant_id=grant.pk)
        client.wait(timeout=120)
        reader.join(timeout=5)
    finally:
        if client.poll() is None:
            client.kill()
    output = "".join(lines)

    assert client.returncode == 0, output
    assert "← webhook trade.settled" in output, output
    assert "records: 1" in output, output
    assert "← webhook access.revoked" in output, output
    notice = DeletionNotice.objects.get(organisation=buyer, seller=listing.seller)
    assert notice.status == DeletionNotice.Status.ACKNOWLEDGED
    assert f"deletion notice {notice.public_id} acknowledged" in output, output
