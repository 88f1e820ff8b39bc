"""Stripe without Stripe: localstripe and our Connect sandbox, real processes on loopback ports.

Both are reached over HTTP through the official SDK (payments.stripe_client); nothing in the SDK
is patched. Each test starts from empty sandboxes (DELETE /_config/data), and Celery tasks run
eagerly unless a test starts real workers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings

from devtools.stripe_sandbox.wire import sign

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_courtier_local"
WEBHOOK_SECRET = "whsec_courtier_test"


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (the sockets are held together, then released)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def http(
    method: str, url: str, data: dict[str, Any] | None = None, *, json_body: Any = None
) -> tuple[int, Any]:
    body, headers = None, {"Authorization": f"Bearer {API_KEY}"}
    if json_body is not None:
        body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    elif data is not None:
        body = urlencode(data, doseq=True).encode()
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode()


@dataclass
class Sandbox:
    api_base: str
    connect_base: str

    def reset(self) -> None:
        for base in (self.api_base, self.connect_base):
            status, _ = http("DELETE", f"{base}/_config/data")
            assert status == 200

    def control(self, path: str, data: dict[str, Any] | None = None) -> Any:
        status, body = http("POST", f"{self.connect_base}/_config/{path}", data or {})
        assert status == 200, body
        return body

    def complete_account(self, account_id: str, **data: Any) -> dict:
        return self.control(f"accounts/{account_id}", data)

    def connected_balance(self, account_id: str) -> int:
        status, body = http("GET", f"{self.connect_base}/_config/accounts/{account_id}/balance")
        assert status == 200, body
        return body["available"]

    def bank_payout(self, account_id: str, **data: Any) -> dict:
        return self.control(f"accounts/{account_id}/payouts", data)

    def dispute(
        self, *, charge: str, payment_intent: str, amount: int, currency: str = "eur", fee: int = 0
    ) -> dict:
        return self.control(
            "disputes",
            {
                "charge": charge,
                "payment_intent": payment_intent,
                "amount": amount,
                "currency": currency,
                "fee": fee,
            },
        )

    def close_dispute(self, dispute_id: str, status: str) -> dict:
        return self.control(f"disputes/{dispute_id}/close", {"status": status})

    def events(self, base: str, type_: str | None = None) -> list[dict]:
        query = f"?limit=100&type={type_}" if type_ else "?limit=100"
        status, body = http("GET", f"{base}/v1/events{query}")
        assert status == 200, body
        return body["data"]

    def connect_events(self, type_: str | None = None) -> list[dict]:
        return self.events(self.connect_base, type_)

    def localstripe_events(self, type_: str | None = None) -> list[dict]:
        return self.events(self.api_base, type_)


def _wait_until_up(base: str, path: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{base} exited with {process.returncode}"
        try:
            status, _ = http("GET", base + path)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not answer")


@pytest.fixture(scope="session")
def stripe_sandbox():
    api_port, connect_port = free_ports(2)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_dir = Path(os.environ.get("PAYMENTS_SANDBOX_LOGS", "/tmp"))
    processes = []
    for name, argv in (
        (
            "localstripe",
            ["localstripe", "--port", str(api_port), "--connect", f"http://127.0.0.1:{connect_port}"],
        ),
        (
            "connect",
            [
                "connect",
                "--port",
                str(connect_port),
                "--api-version",
                django_settings.STRIPE_API_VERSION,
                "--delivery-delay",
                "0.05",
            ],
        ),
    ):
        log = (log_dir / f"courtier-payments-{name}-{os.getpid()}.log").open("w")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "devtools.stripe_sandbox", *argv],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    sandbox = Sandbox(
        api_base=f"http://127.0.0.1:{api_port}", connect_base=f"http://127.0.0.1:{connect_port}"
    )
    try:
        _wait_until_up(sandbox.api_base, "/v1/customers", processes[0])
        _wait_until_up(sandbox.connect_base, "/v1/balance_transactions", processes[1])
        # Worker processes started by tests read their settings from the environment.
        saved = {
            k: os.environ.get(k)
            for k in ("STRIPE_API_BASE", "STRIPE_CONNECT_API_BASE", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET")
        }
        os.environ.update(
            STRIPE_API_BASE=sandbox.api_base,
            STRIPE_CONNECT_API_BASE=sandbox.connect_base,
            STRIPE_API_KEY=API_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        yield sandbox
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


@pytest.fixture(autouse=True)
def stripe_settings(settings, stripe_sandbox):
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = stripe_sandbox.api_base
    settings.STRIPE_CONNECT_API_BASE = stripe_sandbox.connect_base
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = ""
    settings.PAYOUT_THRESHOLD_CENTS = 10_00
    stripe_sandbox.reset()
    return stripe_sandbox


@pytest.fixture(autouse=True)
def eager_celery(request):
    """Tasks queued after commit run at once, in the test's process (real workers: see the
    celery_worker tests)."""
    from config.celery_app import app

    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def stripe_api():
    from payments.stripe_client import client

    return client()


@pytest.fixture
def connect_api():
    from payments.stripe_client import connect_client

    return connect_client()


@pytest.fixture
def buyer(transactional_db):
    """A verified organisation with a Visa card saved (Stripe's test id pm_card_visa)."""
    from payments import services
    from tests.factories import VerifiedOrganisationFactory

    organisation = VerifiedOrganisationFactory()
    services.payment_method_save(organisation_id=organisation.pk, payment_method_id="pm_card_visa")
    return organisation


@pytest.fixture
def buyer_with_card(transactional_db, stripe_api):
    """buyer_with_card("4000000000000341") → an organisation whose default card is that number."""
    from payments import services
    from tests.factories import VerifiedOrganisationFactory

    def make(number: str):
        organisation = VerifiedOrganisationFactory()
        method = stripe_api.v1.payment_methods.create(
            {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
        )
        services.payment_method_save(organisation_id=organisation.pk, payment_method_id=method.id)
        return organisation

    return make


def charge(*, reference: str, organisation_id: int, amount: int):
    """A captured payment: authorised on the organisation's saved card, then captured in full
    (what settlement does for a batch)."""
    from payments import services

    payment = services.payment_authorise(reference=reference, organisation_id=organisation_id, amount=amount)
    return services.payment_capture(payment_id=payment.pk)


@pytest.fixture
def paid_seller(transactional_db, stripe_sandbox):
    """paid_seller() → a seller whose Connect account is onboarded with payouts enabled."""
    from payments import services
    from tests.factories import SellerFactory

    def make():
        seller = SellerFactory()
        account = services.connect_account_ensure(seller_id=seller.pk)
        stripe_sandbox.complete_account(account.stripe_account_id)
        services.connect_account_sync(stripe_account_id=account.stripe_account_id)
        return seller

    return make


def signed_headers(
    payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    return {"HTTP_STRIPE_SIGNATURE": sign(payload, secret, timestamp), "content_type": "application/json"}


@pytest.fixture
def deliver(client):
    """deliver(event_dict or raw str) → POST it, correctly signed, to /webhooks/stripe/."""

    def post(event: dict | str, **kwargs):
        payload = event if isinstance(event, str) else json.dumps(event)
        return client.post("/webhooks/stripe/", payload, **signed_headers(payload, **kwargs))

    return post
