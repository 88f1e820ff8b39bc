"""`make load`'s users (bench/locustfile.py) hit real URLs: every task of a seller and of an
advertiser once, against the live test server, with no failure.

Locust patches the standard library with gevent when imported, so the users run in a child
process; this process serves the site and holds the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accounts import services as account_services
from tests.factories import PayingOrganisationFactory, SellerFactory
from tests.marketplace.conftest import active_listing

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import json, sys
from locust.env import Environment
from bench import locustfile as lf

lf.Seller.host = lf.Advertiser.host = sys.argv[1]
env = Environment(user_classes=[lf.Seller, lf.Advertiser], host=sys.argv[1])
env.create_local_runner()  # hooks the request events to env.stats
seller = lf.Seller(env)
seller.on_start()
seller.dashboard()
seller.consents()
seller.toggle()  # grant the cell
seller.toggle()  # withdraw it
advertiser = lf.Advertiser(env)
advertiser.on_start()
advertiser.size_segment()
advertiser.sealed_bid()
advertiser.buy_now()
advertiser.trades_and_records()
advertiser.browse()
stats = {name: [s.num_requests, s.num_failures] for (name, _method), s in env.stats.entries.items()}
errors = [f"{e.method} {e.name}: {e.error}" for e in env.stats.errors.values()]
print(json.dumps({"stats": stats, "errors": errors}))
"""


@pytest.mark.django_db(transaction=True)
def test_every_task_of_the_locustfile_hits_a_real_url(live_server, tmp_path):
    seller = SellerFactory(password="load-test-password-7")
    organisation = PayingOrganisationFactory()
    _key, plaintext = account_services.api_key_create(organisation=organisation, name="load")
    auction = active_listing(pricing_mode="auction", floor=500)
    fixed = active_listing(pricing_mode="fixed", floor=500)
    data = {
        "password": "load-test-password-7",
        "sellers": [seller.email],
        "slots": 1,
        "runs": 1,
        "keys": [[plaintext]],
        "fixed": [str(fixed.public_id)],
        "auctions": [str(auction.public_id)],
    }
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))

    run = subprocess.run(
        [sys.executable, "-c", DRIVER, live_server.url],
        cwd=ROOT,
        env={"LOAD_DATA": str(data_file), "LOAD_RUN": "0", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    requests = {name: counts[0] for name, counts in result["stats"].items()}
    assert set(requests) >= {
        "login page",
        "login",
        "seller dashboard",
        "seller consents",
        "consent grant",
        "consent withdraw",
        "segments size",
        "bid (auction)",
        "bid (buy now)",
        "trades",
        "listings",
    }, requests
    assert all(failures == 0 for _requests, failures in result["stats"].values())
    assert organisation.bids.count() == 2  # the sealed bid and the purchase were stored
