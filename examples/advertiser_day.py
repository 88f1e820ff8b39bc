"""An advertiser's day against Courtier's buyer API, end to end (Python 3.10+, `requests` only).

    make run                                  # in another terminal: the product with demo data
    python examples/advertiser_day.py         # the demo advertiser's key from .run/demo-api-key.txt

1. Who am I: `GET /organisation/`.
2. Size a segment: `POST /segments/size/`.
3. Listen: a webhook receiver on this machine, registered with `POST /webhook-endpoints/`; every
   delivery's `Courtier-Signature` is verified with the endpoint's secret (`verify_signature`
   below: copy it into your own receiver).
4. Buy: the cheapest fixed-price listing, `POST /bids/` with an `Idempotency-Key` (retrying the
   same request with the same key can never buy twice).
5. Wait for `trade.settled` (the worker charges the card and grants access), then read the
   records: `GET /trades/{id}/records/`.
6. Wait for `access.revoked` (a seller withdrew consent: `--revocation-timeout`, 0 to skip),
   delete the data, then acknowledge the deletion notice:
   `POST /deletion-notices/{id}/acknowledge/`.

Every error answer is an RFC 9457 problem (`application/problem+json`) with a `code`; this
client prints it and stops. Exit status 0 when the day went through.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import queue
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

SIGNATURE_HEADER = "Courtier-Signature"
EVENT_TYPES = ["bid.won", "bid.lost", "trade.settled", "payment.failed", "access.revoked", "notice.overdue"]


class ApiError(Exception):
    def __init__(self, response: requests.Response) -> None:
        try:
            self.problem = response.json()
        except ValueError:
            self.problem = {"status": response.status_code, "detail": response.text[:200]}
        super().__init__(
            f"{response.request.method} {response.url} → {response.status_code} "
            f"{self.problem.get('code', '')}: {self.problem.get('detail', '')}"
        )


class Courtier:
    """A thin client: one session, the API key on every request, problems raised as ApiError."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {api_key}"

    def call(self, method: str, path: str, *, idempotency_key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        for _attempt in range(5):
            response = self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
            if response.status_code == 429:  # rate limited: wait as told, then retry
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code >= 400:
                raise ApiError(response)
            return response.json() if response.content else None
        raise ApiError(response)


def verify_signature(payload: bytes, header: str | None, secret: str, tolerance: int = 300) -> int:
    """`Courtier-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=…]` (two v1
    while a rolled secret's predecessor still signs). Returns t; raises ValueError otherwise."""
    fields = [item.strip().partition("=") for item in (header or "").split(",")]
    timestamps = [int(value) for key, _, value in fields if key == "t" and value.isdigit()]
    signatures = [value for key, _, value in fields if key == "v1" and value]
    if not timestamps or not signatures:
        raise ValueError("malformed signature header")
    signed = f"{timestamps[0]}.".encode() + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise ValueError("no signature matches the secret")
    if abs(time.time() - timestamps[0]) > tolerance:
        raise ValueError("timestamp outside the tolerance")
    return timestamps[0]


class Receiver:
    """A webhook receiver on 127.0.0.1: verifies each delivery, answers 2xx once it has the
    event (so Courtier stops retrying), hands events over in order, each once."""

    def __init__(self, port: int = 0) -> None:
        self.secret = ""
        self.events: queue.Queue[dict] = queue.Queue()
        self.seen: set[str] = set()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify_signature(body, self.headers.get(SIGNATURE_HEADER), receiver.secret)
                except ValueError as error:
                    print(f"  ! refused a delivery: {error}")
                    self.send_response(400)
                    self.end_headers()
                    return
                event = json.loads(body)
                if event["id"] not in receiver.seen:  # a redelivery of an event we have: ignore
                    receiver.seen.add(event["id"])
                    receiver.events.put(event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/courtier-webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, event_type: str, timeout: float, match=lambda obj: True) -> dict | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            print(f"  ← webhook {event['type']} ({event['id']})")
            if event["type"] == event_type and match(event["data"]["object"]):
                return event
        return None


def day(api: Courtier, receiver: Receiver, *, settle_timeout: float, revocation_timeout: float) -> int:
    me = api.call("GET", "/organisation/")
    print(f"organisation: {me['legal_name']} ({me['verification_status']})")

    brief = {"categories": ["demographics", "location"], "purpose": "targeted_advertising"}
    size = api.call("POST", "/segments/size/", json=brief)
    print(f"segment demographics+location for targeted advertising: {size}")

    endpoint = api.call("POST", "/webhook-endpoints/", json={"url": receiver.url, "event_types": EVENT_TYPES})
    receiver.secret = endpoint["secret"]
    print(f"webhook endpoint {endpoint['id']} → {receiver.url}")
    try:
        listings = api.call("GET", "/listings/", params={"pricing_mode": "fixed", "ordering": "price"})
        if not listings["results"]:
            print("no fixed-price listing to buy")
            return 1
        listing = listings["results"][0]
        print(
            f"buying listing {listing['id']} ({', '.join(listing['categories'])}) for {listing['floor_price_cents']} cents"
        )
        key = str(uuid.uuid4())  # one key per purchase: a retry with it can never buy twice
        bid = api.call("POST", "/bids/", idempotency_key=key, json={"listing": listing["id"]})
        trade_id = bid["trade"]
        print(f"bid {bid['id']} {bid['status']}, trade {trade_id}")

        settled = receiver.wait_for("trade.settled", settle_timeout, lambda obj: obj["id"] == trade_id)
        if settled is None:
            print(f"no trade.settled within {settle_timeout:.0f} s")
            return 1
        records = api.call("GET", f"/trades/{trade_id}/records/")
        print(f"records: {len(records['results'])} (e.g. {json.dumps(records['results'][0])[:160]}…)")

        if revocation_timeout <= 0:
            return 0
        print(f"waiting up to {revocation_timeout:.0f} s for a seller to withdraw consent (access.revoked)…")
        revoked = receiver.wait_for(
            "access.revoked", revocation_timeout, lambda obj: obj["trade"] == trade_id
        )
        if revoked is None:
            print("no access.revoked: nothing to delete today")
            return 0
        grant = revoked["data"]["object"]
        print(f"access {grant['id']} revoked; delete the seller's data by {grant['deletion_deadline']}")
        # … delete every copy of the records of seller grant['seller'] here, then acknowledge:
        notice = grant["deletion_notice"]
        acknowledged = api.call("POST", f"/deletion-notices/{notice['id']}/acknowledge/")
        print(f"deletion notice {acknowledged['id']} {acknowledged['status']}")
        return 0
    finally:
        api.call("DELETE", f"/webhook-endpoints/{endpoint['id']}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="default: .run/demo-api-key.txt, written by make run")
    parser.add_argument("--receiver-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--settle-timeout", type=float, default=120)
    parser.add_argument("--revocation-timeout", type=float, default=0, help="0: do not wait")
    args = parser.parse_args(argv)
    api_key = (
        args.api_key
        or (Path(__file__).resolve().parent.parent / ".run" / "demo-api-key.txt").read_text().strip()
    )
    receiver = Receiver(args.receiver_port)
    try:
        return day(
            Courtier(args.base_url, api_key),
            receiver,
            settle_timeout=args.settle_timeout,
            revocation_timeout=args.revocation_timeout,
        )
    except ApiError as error:
        print(f"API error: {error}", file=sys.stderr)
        return 2
    finally:
        receiver.server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
