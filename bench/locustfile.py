"""`make load`'s users (bench/load.py runs locust on this file; LOAD_DATA names the JSON file the
set-up wrote: sellers' emails and password, organisations' API keys, listings).

Sellers (session login, then): the dashboard, the consents page, and one consent matrix cell
they grant and withdraw in turn through the htmx endpoints, as the page's buttons do.
Advertisers (an API key each): size segments, place sealed bids on auctions, buy fixed-price
listings now (settled by the Celery worker against the Stripe sandbox), list their trades and
read the records of the delivered ones, browse listings.

Every response other than the one expected is a failure (the error rate); no request is retried.
Each user of a run takes the next seller or organisation (LOAD_RUN picks the set of a run, so a
run never meets an earlier run's bids), and its own slice of the fixed-price listings, so no
two users ever race for one listing: a conflict would be a failure, not the market at work.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import uuid

import gevent
from locust import HttpUser, between, task

DATA = json.loads(open(os.environ["LOAD_DATA"]).read()) if os.environ.get("LOAD_DATA") else None
RUN = int(os.environ.get("LOAD_RUN", "0"))
SELLER_SLOTS = itertools.count()
ADVERTISER_SLOTS = itertools.count()
# The measured window: it opens when every user is in and every seller logged in (the stats are
# reset then), and lasts LOAD_MEASURE_SECONDS (0: until locust's own -t).
SELLERS = int(os.environ.get("LOAD_SELLERS", "0"))
MEASURE_SECONDS = float(os.environ.get("LOAD_MEASURE_SECONDS", "0"))
LOGGED_IN = [0]
WATCHING = itertools.count()

TOGGLED = ("device", "ad_measurement")  # a pair no listing depends on: withdrawing ends no sale
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BRIEFS = (
    {"categories": ["demographics"], "purpose": "targeted_advertising"},
    {"categories": ["demographics", "location"], "purpose": "targeted_advertising", "regions": ["FR-IDF"]},
    {"categories": ["demographics"], "purpose": "targeted_advertising", "age_bands": ["25-34", "35-44"]},
    {"categories": ["location"], "purpose": "targeted_advertising", "mobile_os": ["android"]},
)
LISTING_QUERIES = ("?page_size=20", "?ordering=price&page_size=20", "?pricing_mode=auction&page_size=20")


def _measure(environment) -> None:
    """Reset the stats once everyone is in and logged in, then stop after the measured window."""
    runner = environment.runner
    while runner.state != "running" or LOGGED_IN[0] < SELLERS:
        if runner.state in ("stopping", "stopped"):
            return
        gevent.sleep(0.2)
    environment.stats.reset_all()
    print(f"load: all {runner.user_count} users in, measuring", flush=True)
    if MEASURE_SECONDS:
        gevent.sleep(MEASURE_SECONDS)
        runner.quit()


def _cell_grant_id(html: str, category: str, purpose: str) -> int | None:
    """The grant id behind a granted cell (its Withdraw link), None when the cell is not granted."""
    start = html.find(f'id="cell-{category}-{purpose}"')
    if start < 0:
        raise ValueError(f"no cell {category}:{purpose} in the page")
    end = html.find("</td>", start)
    cell = html[start:end]
    if 'data-state="granted"' not in cell:
        return None
    found = re.search(r"/consents/(\d+)/revoke/", cell)
    if found is None:
        raise ValueError("a granted cell without its Withdraw link")
    return int(found.group(1))


class Seller(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        assert DATA is not None, "LOAD_DATA is not set"
        if SELLERS and next(WATCHING) == 0 and self.environment.runner is not None:
            gevent.spawn(_measure, self.environment)
        sellers = DATA["sellers"]
        slot = next(SELLER_SLOTS)
        self.email = sellers[(RUN * DATA["slots"] + slot) % len(sellers)]
        self.grant_id: int | None = None
        self.csrf = ""
        page = self.client.get("/login/", name="login page")
        self.csrf = CSRF_INPUT.search(page.text).group(1)
        with self.client.post(
            "/login/",
            data={"username": self.email, "password": DATA["password"], "csrfmiddlewaretoken": self.csrf},
            headers={"Referer": self.host + "/login/"},
            name="login",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or response.url.rstrip("/") != self.host.rstrip("/"):
                response.failure(f"login ended at {response.url} ({response.status_code})")
        LOGGED_IN[0] += 1
        self.consents()

    def _htmx(self) -> dict[str, str]:
        return {"HX-Request": "true", "X-CSRFToken": self.csrf, "Referer": self.host + "/consents/"}

    def _page(self, path: str, name: str):
        """GET a seller page; a failure unless it answers 200 in place (not the login page)."""
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200 or response.history:
                response.failure(f"{response.status_code} at {response.url}")
                return None
            return response

    @task(3)
    def dashboard(self) -> None:
        self._page("/", "seller dashboard")

    @task(3)
    def consents(self) -> None:
        response = self._page("/consents/", "seller consents")
        if response is not None:
            self.csrf = CSRF_INPUT.search(response.text).group(1)
            self.grant_id = _cell_grant_id(response.text, *TOGGLED)

    @task(2)
    def toggle(self) -> None:
        """Withdraw the cell's consent if granted, else grant it (90 days), as the cell's buttons."""
        if self.grant_id is not None:
            url, data, name = f"/consents/{self.grant_id}/revoke/", {}, "consent withdraw"
        else:
            url = "/consents/grant/"
            data = {"category": TOGGLED[0], "purpose": TOGGLED[1], "window_days": "90"}
            name = "consent grant"
        with self.client.post(
            url, data=data, headers=self._htmx(), name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            self.grant_id = _cell_grant_id(response.text, *TOGGLED)
            if (self.grant_id is None) != (name == "consent withdraw"):
                response.failure(f"the cell did not change ({name})")


class Advertiser(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        assert DATA is not None, "LOAD_DATA is not set"
        slot = next(ADVERTISER_SLOTS) % DATA["slots"]
        self.key = DATA["keys"][RUN][slot]
        auctions = DATA["auctions"]
        self.auction_position = slot * (len(auctions) // DATA["slots"])
        block = len(DATA["fixed"]) // (DATA["runs"] * DATA["slots"])
        first = (RUN * DATA["slots"] + slot) * block
        self.fixed = DATA["fixed"][first : first + block]
        self.readable: list[str] = []

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.key}", **extra}

    def _expect(self, method: str, path: str, expected: int, name: str, body: dict | None = None, **headers):
        with self.client.request(
            method, path, json=body, headers=self._headers(**headers), name=name, catch_response=True
        ) as response:
            if response.status_code != expected:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            return response.json()

    @task(3)
    def size_segment(self) -> None:
        self._expect("POST", "/api/v1/segments/size/", 200, "segments size", random.choice(BRIEFS))

    @task(3)
    def sealed_bid(self) -> None:
        auctions = DATA["auctions"]
        listing = auctions[self.auction_position % len(auctions)]
        self.auction_position += 1
        body = {"listing": listing, "amount_cents": 1000 + random.randrange(500)}
        self._expect(
            "POST", "/api/v1/bids/", 201, "bid (auction)", body, **{"Idempotency-Key": str(uuid.uuid4())}
        )

    @task(1)
    def buy_now(self) -> None:
        if not self.fixed:
            return
        body = {"listing": self.fixed.pop()}
        self._expect(
            "POST", "/api/v1/bids/", 201, "bid (buy now)", body, **{"Idempotency-Key": str(uuid.uuid4())}
        )

    @task(2)
    def trades_and_records(self) -> None:
        page = self._expect("GET", "/api/v1/trades/", 200, "trades")
        if page is None:
            return
        delivered = [t["id"] for t in page["results"] if t["status"] in ("delivered", "settled")]
        if delivered:
            self._expect("GET", f"/api/v1/trades/{random.choice(delivered)}/records/", 200, "trade records")

    @task(1)
    def browse(self) -> None:
        self._expect("GET", "/api/v1/listings/" + random.choice(LISTING_QUERIES), 200, "listings")
