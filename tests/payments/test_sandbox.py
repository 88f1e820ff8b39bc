"""The loopback sandbox: Connect objects shaped exactly like Stripe's published fixtures,
Stripe's Idempotency-Key semantics (which localstripe lacks on its own), API keys required, and
nothing listening beyond loopback."""

from __future__ import annotations

import socket

import pytest
import stripe

from devtools.stripe_sandbox import fixtures as sandbox_fixtures
from tests.payments.conftest import http

FIXTURES = sandbox_fixtures.load_fixtures()


def test_connect_objects_keep_every_fixture_field(connect_api, stripe_sandbox):
    account = connect_api.v1.accounts.create({"type": "express", "country": "FR", "email": "s@example.test"})
    link = connect_api.v1.account_links.create(
        {
            "account": account.id,
            "refresh_url": "http://x/r",
            "return_url": "http://x/d",
            "type": "account_onboarding",
        }
    )
    stripe_sandbox.complete_account(account.id)
    transfer = connect_api.v1.transfers.create({"amount": 1_00, "currency": "eur", "destination": account.id})
    reversal = connect_api.v1.transfers.reversals.create(transfer.id, {"amount": 40})
    (event,) = stripe_sandbox.connect_events("transfer.created")

    for name, obj in (
        ("account", account),
        ("account_link", link),
        ("transfer", transfer),
        ("transfer_reversal", reversal),
        ("event", event),
    ):
        keys = set(obj.keys()) if isinstance(obj, dict) else set(obj.to_dict().keys())
        assert set(FIXTURES[name]) <= keys, (name, set(FIXTURES[name]) - keys)
    assert (
        transfer.object == "transfer"
        and reversal.transfer == transfer.id
        and event["data"]["object"]["id"] == transfer.id
    )


def test_idempotency_keys_replay_and_refuse_other_parameters(stripe_api, connect_api):
    params = {"amount": 5_00, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    first = stripe_api.v1.payment_intents.create(params, {"idempotency_key": "k1"})
    replay = stripe_api.v1.payment_intents.create(params, {"idempotency_key": "k1"})
    assert first.id == replay.id and replay.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError):
        stripe_api.v1.payment_intents.create({**params, "amount": 6_00}, {"idempotency_key": "k1"})
    stripe_api.v1.payment_intents.create(params)  # without a key, a second one
    assert len(stripe_api.v1.payment_intents.list({"limit": 10}).data) == 2
    account = connect_api.v1.accounts.create({"type": "express"}, {"idempotency_key": "a1"})
    assert connect_api.v1.accounts.create({"type": "express"}, {"idempotency_key": "a1"}).id == account.id


def test_an_api_key_is_required(stripe_sandbox):
    status, body = http("GET", f"{stripe_sandbox.connect_base}/v1/transfers")
    assert status == 200  # our helper sends a key
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stripe_sandbox.connect_base}/v1/transfers", timeout=5)
    assert refused.value.code == 401


def _non_loopback_addresses() -> list[str]:
    addresses = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addresses.add(info[4][0])
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: just picks the outward interface
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
    return [a for a in addresses if not a.startswith("127.")]


def test_the_sandboxes_listen_on_loopback_only(stripe_sandbox):
    addresses = _non_loopback_addresses()
    if not addresses:
        pytest.skip("this machine has no non-loopback address")
    for base in (stripe_sandbox.api_base, stripe_sandbox.connect_base):
        port = int(base.rsplit(":", 1)[1])
        for address in addresses:
            with socket.socket() as sock:
                sock.settimeout(2)
                assert sock.connect_ex((address, port)) != 0, f"{base} answers on {address}"
