"""Stripe's Idempotency-Key semantics, fault injection, rate limiting and request counts, on both
sandboxes (devtools/stripe_sandbox), through the SDK where it is natural and raw HTTP elsewhere."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe

from tests.payments.conftest import API_KEY

# (sandbox, path of a create, its parameters, path listing what it created)
CREATES = {
    "localstripe": ("/v1/customers", {"email": "i@example.test"}, "/v1/customers?limit=100"),
    "connect": ("/v1/accounts", {"type": "express", "email": "i@example.test"}, "/v1/accounts?limit=100"),
}


def call(
    method: str,
    url: str,
    data: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    account: str | None = None,
    timeout: float = 10,
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    if key:
        headers["Idempotency-Key"] = key
    if account:
        headers["Stripe-Account"] = account
    body = urlencode(data, doseq=True).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    try:
        return status, json.loads(raw or b"null"), got
    except ValueError:
        return status, raw.decode(), got


def base_of(stripe_sandbox, name: str) -> str:
    return stripe_sandbox.api_base if name == "localstripe" else stripe_sandbox.connect_base


def arm(base: str, **rule: Any) -> dict:
    status, body, _ = call("POST", f"{base}/_config/faults", rule)
    assert status == 200, body
    return body


def created(base: str, name: str) -> list[dict]:
    status, body, _ = call("GET", base + CREATES[name][2])
    assert status == 200, body
    return body["data"]


def sdk(base: str, timeout: float = 10) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


both = pytest.mark.parametrize("name", ["localstripe", "connect"])


@both
def test_a_concurrent_duplicate_gets_409_while_the_first_runs(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    arm(base, mode="delay", seconds=1.5, method="POST", path=f"^{path}$")
    first: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: first.update(answer=call("POST", base + path, params, key="k-409"))
    )
    thread.start()
    time.sleep(0.5)

    status, body, _ = call("POST", base + path, params, key="k-409")
    with pytest.raises(stripe.APIError) as conflict:  # stripe-python 16.1 maps a v1 409 to APIError
        (sdk(base).v1.customers if name == "localstripe" else sdk(base).v1.accounts).create(
            params, {"idempotency_key": "k-409"}
        )
    thread.join()

    assert status == 409 and body["error"]["type"] == "idempotency_error"
    assert conflict.value.http_status == 409
    assert conflict.value.json_body["error"]["type"] == "idempotency_error"
    assert first["answer"][0] == 200
    replay_status, replay, headers = call("POST", base + path, params, key="k-409")
    assert replay_status == 200 and replay["id"] == first["answer"][1]["id"]
    assert headers.get("Idempotent-Replayed") == "true"
    assert len(created(base, name)) == 1


@both
def test_a_5xx_after_the_work_is_saved_and_replayed(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    arm(base, mode="error_after", method="POST", path=f"^{path}$")

    status, body, headers = call("POST", base + path, params, key="k-500")
    again_status, again, again_headers = call("POST", base + path, params, key="k-500")

    assert status == again_status == 500 and body == again and body["error"]["type"] == "api_error"
    assert "Idempotent-Replayed" not in headers and again_headers.get("Idempotent-Replayed") == "true"
    assert len(created(base, name)) == 1  # the work was done, once
    fresh_status, _, _ = call("POST", base + path, params, key="k-500-fresh")
    assert fresh_status == 200 and len(created(base, name)) == 2


@both
def test_a_5xx_before_the_work_is_not_saved(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    arm(base, mode="error_before", method="POST", path=f"^{path}$")

    status, body, _ = call("POST", base + path, params, key="k-before")
    assert status == 500 and body["error"]["type"] == "api_error" and created(base, name) == []

    retry_status, retry, headers = call("POST", base + path, params, key="k-before")
    assert retry_status == 200 and "Idempotent-Replayed" not in headers
    assert [obj["id"] for obj in created(base, name)] == [retry["id"]]


@both
def test_the_same_key_with_other_parameters_gets_400(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    assert call("POST", base + path, params, key="k-other")[0] == 200

    status, body, _ = call("POST", base + path, {**params, "email": "other@example.test"}, key="k-other")
    other_path_status, other_path, _ = call("POST", base + "/v1/transfers", {"amount": 1}, key="k-other")
    with pytest.raises(stripe.IdempotencyError):
        (sdk(base).v1.customers if name == "localstripe" else sdk(base).v1.accounts).create(
            {**params, "email": "sdk@example.test"}, {"idempotency_key": "k-other"}
        )

    assert status == other_path_status == 400
    assert body["error"]["type"] == other_path["error"]["type"] == "idempotency_error"
    assert len(created(base, name)) == 1


@both
def test_keys_are_scoped_per_account(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]

    answers = [
        call("POST", base + path, params, key="k-scope", account=account)
        for account in (None, "acct_one", "acct_two", "acct_one")
    ]

    assert [a[0] for a in answers] == [200, 200, 200, 200]
    ids = [a[1]["id"] for a in answers]
    assert len(set(ids[:3])) == 3 and ids[3] == ids[1]
    assert [a[2].get("Idempotent-Replayed") for a in answers] == [None, None, None, "true"]


@both
def test_a_rate_limit_fault_answers_429_without_work_and_is_not_saved(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    arm(base, mode="rate_limit", method="POST")

    with pytest.raises(stripe.RateLimitError):
        (sdk(base).v1.customers if name == "localstripe" else sdk(base).v1.accounts).create(
            params, {"idempotency_key": "k-429"}
        )
    assert created(base, name) == []
    assert call("POST", base + path, params, key="k-429")[0] == 200
    assert len(created(base, name)) == 1


@both
def test_a_timeout_does_the_work_and_the_key_replays_it(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    arm(base, mode="timeout", seconds=3, method="POST", path=f"^{path}$")
    resource = (
        sdk(base, timeout=1).v1.customers if name == "localstripe" else sdk(base, timeout=1).v1.accounts
    )

    with pytest.raises(stripe.APIConnectionError):
        resource.create(params, {"idempotency_key": "k-timeout"})

    (made,) = created(base, name)
    replay = resource.create(params, {"idempotency_key": "k-timeout"})
    assert replay.id == made["id"] and replay.last_response.headers.get("Idempotent-Replayed") == "true"


@both
def test_a_dropped_connection_does_the_work(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    arm(base, mode="timeout", seconds=0, close=1, method="POST", path=f"^{path}$")
    resource = sdk(base).v1.customers if name == "localstripe" else sdk(base).v1.accounts

    with pytest.raises(stripe.APIConnectionError):
        resource.create(params, {"idempotency_key": "k-close"})

    (made,) = created(base, name)
    assert resource.create(params, {"idempotency_key": "k-close"}).id == made["id"]


@both
def test_faults_match_method_and_path_and_count_down(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, list_path = CREATES[name]
    arm(base, mode="error_before", count=2, method="POST", path="^/v1/transfers")
    arm(base, mode="error_before", count=2, method="GET", path=f"^{path}$")

    assert call("POST", base + path, params)[0] == 200  # neither rule matches
    assert [call("GET", base + list_path)[0] for _ in range(3)] == [500, 500, 200]
    status, armed, _ = call("GET", f"{base}/_config/faults")
    assert status == 200 and [(f["path"], f["count"]) for f in armed["data"]] == [("^/v1/transfers", 2)]
    assert call("DELETE", f"{base}/_config/faults")[1] == {"data": []}
    assert call("GET", f"{base}/_config/faults")[1] == {"data": []}


@both
def test_resetting_the_data_forgets_faults_and_keys(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    assert call("POST", base + path, params, key="k-reset")[0] == 200
    arm(base, mode="error_before", path="^/nothing")

    assert call("DELETE", f"{base}/_config/data")[0] == 200

    assert call("GET", f"{base}/_config/faults")[1] == {"data": []}
    status, _, headers = call("POST", base + path, {**params, "email": "new@example.test"}, key="k-reset")
    assert status == 200 and "Idempotent-Replayed" not in headers


@both
def test_the_rate_limit_answers_429_like_stripe_and_is_counted(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, _, list_path = CREATES[name]
    call("DELETE", f"{base}/_config/stats")
    assert call("POST", f"{base}/_config/rate_limit", {"per_second": 3})[1] == {"per_second": 3}

    statuses = [call("GET", base + list_path)[0] for _ in range(8)]
    with pytest.raises(stripe.RateLimitError) as limited:
        for _ in range(5):
            (sdk(base).v1.customers if name == "localstripe" else sdk(base).v1.accounts).list()
    time.sleep(1.1)
    after_a_second = call("GET", base + list_path)[0]
    call("POST", f"{base}/_config/rate_limit", {"per_second": 0})

    assert statuses[:3] == [200, 200, 200] and 429 in statuses and after_a_second == 200
    assert limited.value.json_body["error"]["code"] == "rate_limit"
    stats = call("GET", f"{base}/_config/stats")[1]
    assert stats["by_status"]["429"] == stats["rate_limited"] >= statuses.count(429) + 1


@both
def test_stats_count_requests_per_route_with_ids_collapsed(stripe_sandbox, name):
    base = base_of(stripe_sandbox, name)
    path, params, _ = CREATES[name]
    call("DELETE", f"{base}/_config/stats")
    ids = [call("POST", base + path, params)[1]["id"] for _ in range(2)]
    for obj_id in ids:
        call("GET", f"{base}{path}/{obj_id}")
    call("GET", f"{base}{path}/{ids[0]}")

    stats = call("GET", f"{base}/_config/stats")[1]

    assert stats["total"] == 5 and stats["rate_limited"] == 0
    assert stats["by_route"] == {f"POST {path}": 2, f"GET {path}/{{id}}": 3}
    assert stats["by_status"] == {"200": 5}
    assert call("DELETE", f"{base}/_config/stats")[1]["total"] == 0


def test_a_request_that_failed_validation_is_not_saved(stripe_sandbox):
    base = stripe_sandbox.connect_base
    status, body, _ = call("POST", f"{base}/v1/transfers", {"currency": "eur"}, key="k-invalid")
    assert status == 400 and body["error"]["code"] == "parameter_missing"
    # a corrected request may use the key: nothing was saved for it
    status, body, _ = call("POST", f"{base}/v1/accounts", {"type": "express"}, key="k-invalid")
    assert status == 200
