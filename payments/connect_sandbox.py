"""The loopback Stripe sandbox pieces that localstripe lacks. Standard library + aiohttp; no Django.

    python -m payments.connect_sandbox connect [--port 8421] [--data FILE]
        [--webhook-url URL --webhook-secret SECRET] [--localstripe URL]
    python -m payments.connect_sandbox localstripe [--port 8420]

`connect` serves, in Stripe's wire format and reached through the official SDK:
  POST/GET /v1/accounts[/<id>], POST /v1/account_links, POST/GET /v1/transfers[/<id>],
  POST/GET /v1/transfers/<id>/reversals, GET /v1/balance_transactions[/<id>], GET /v1/events[/<id>],
  GET /v1/disputes/<id>.
Every object is the matching resource of Stripe's published fixtures (`fixtures3.json`) with its
id, amounts, statuses and references changed; every other field is kept as Stripe has it.
It emits signed events (account.updated, transfer.created, transfer.reversed, payout.paid,
payout.failed, charge.dispute.*) to registered webhook URLs, and keeps its own balance history
(transfers, transfer reversals, dispute adjustments) for reconciliation.

Sandbox controls (what Stripe's dashboard, the seller or the card network would do):
  GET  /connect/onboarding/<token>          the hosted onboarding page an account link opens
  POST /_config/webhooks/<id>               url, secret (like localstripe)
  DELETE /_config/data                      forget everything
  POST /_config/accounts/<id>               complete=1 | payouts_enabled=0/1 | requirements[]=…
  POST /_config/accounts/<id>/payouts       amount?, status=paid|failed: the seller's bank payout
  POST /_config/disputes                    charge, payment_intent, amount, currency, reason, fee? (dispute fee)
  POST /_config/disputes/<id>/close         status=won|lost
  POST /_config/events                      type, object (JSON), account?: emit any event

`localstripe` serves localstripe itself on 127.0.0.1 only, without disk persistence (tests), and
with Stripe's Idempotency-Key semantics, which localstripe lacks: a POST repeated with the same
key replays the first answer (header `Idempotent-Replayed: true`); the same key with other
parameters is refused. Both servers use that middleware.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import ClientSession, ClientTimeout, web

HERE = Path(__file__).resolve().parent
FIXTURE_RESOURCES = (
    "account",
    "account_link",
    "balance_transaction",
    "charge",  # for tests' events
    "dispute",
    "event",
    "payment_intent",  # for tests' events
    "payout",
    "transfer",
    "transfer_reversal",
)
VENDORED_FIXTURES = HERE / "stripe_fixtures.json"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600


# --- Stripe's published fixtures -----------------------------------------------------------------


def fixtures_path() -> Path:
    """$STRIPE_FIXTURES, else ../shared/stripe/fixtures3.json, else the extract shipped with us."""
    candidates = [
        os.environ.get("STRIPE_FIXTURES", ""),
        str(HERE.parent.parent / "shared/stripe/fixtures3.json"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return VENDORED_FIXTURES


def load_fixtures(path: Path | None = None) -> dict[str, dict[str, Any]]:
    data = json.loads((path or fixtures_path()).read_text())
    resources = data["resources"]
    return {name: resources[name] for name in FIXTURE_RESOURCES}


def extract_fixtures(source: Path, target: Path = VENDORED_FIXTURES) -> None:
    """Write the subset of fixtures3.json the sandbox uses (so CI needs no ../shared)."""
    resources = json.loads(source.read_text())["resources"]
    subset = {
        "_source": "stripe/openapi openapi/fixtures3.json (commit f6c2a48), MIT licence, (c) Stripe, Inc.",
        "resources": {name: resources[name] for name in FIXTURE_RESOURCES},
    }
    target.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


# --- Stripe-shaped helpers -----------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def stripe_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    type_: str = "invalid_request_error",
) -> web.Response:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return web.json_response({"error": error}, status=status)


class StripeHTTPError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.response = stripe_error(status, message, code=code, param=param, type_=type_)


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][c]=1&l[0]=x&m[]=y` → {"a": {"b": {"c": "1"}}, "l": ["x"], "m": ["y"]} (Stripe's form encoding)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        if not match:
            continue
        names = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))]
        node: Any = root
        for name, following in zip(names, names[1:], strict=False):
            if not isinstance(node, dict):
                break
            node = node.setdefault(name, [] if following == "" else {})
        if isinstance(node, list):
            node.append(value)
        elif isinstance(node, dict):
            node[names[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    if isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def as_int(params: dict[str, Any], name: str, *, required: bool = True, minimum: int = 1) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise StripeHTTPError(
                400, f"Missing required param: {name}.", code="parameter_missing", param=name
            )
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise StripeHTTPError(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        ) from None
    if value < minimum:
        raise StripeHTTPError(
            400,
            f"This value must be greater than or equal to {minimum}.",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for this exact payload."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def build_event(
    fixtures: dict[str, dict[str, Any]],
    type_: str,
    obj: dict[str, Any],
    *,
    api_version: str,
    account: str | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Stripe event (fixture `event`) carrying `obj` as data.object."""
    event = copy.deepcopy(fixtures["event"])
    event.update(
        id=new_id("evt_"),
        type=type_,
        created=int(time.time()),
        api_version=api_version,
        livemode=False,
        pending_webhooks=1,
        request={"id": new_id("req_"), "idempotency_key": None},
        data={"object": obj},
    )
    if previous_attributes:
        event["data"]["previous_attributes"] = previous_attributes
    if account:
        event["account"] = account
    return event


# --- Idempotency-Key (Stripe's semantics), for localstripe and for us ---------------------------


class IdempotencyCache:
    """POSTs with an Idempotency-Key: the first answer is kept 24 h and replayed for the same key;
    the same key with different parameters is refused. Answers kept: 2xx and 402 (the request ran)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[float, str, int, bytes, str]] = {}
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}

    def clear(self) -> None:
        self.entries.clear()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ):
        if request.method == "DELETE" and request.path == "/_config/data":
            self.clear()
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        body = await request.read()
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"?" + _canonical(body)
        ).hexdigest()
        lock = self.locks.setdefault(scope, asyncio.Lock())
        async with lock:
            now = time.time()
            cached = self.entries.get(scope)
            if cached and now - cached[0] < IDEMPOTENCY_TTL_SECONDS:
                _at, stored_fingerprint, status, stored_body, content_type = cached
                if stored_fingerprint != fingerprint:
                    return stripe_error(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{key}' if you meant to execute a "
                        "different request.",
                        type_="idempotency_error",
                    )
                response = web.Response(status=status, body=stored_body, content_type=content_type)
                response.headers["Idempotent-Replayed"] = "true"
                response.headers["Idempotency-Key"] = key
                return response
            response = await _run(handler, request)
            if isinstance(response, web.Response) and (
                200 <= response.status < 300 or response.status == 402
            ):
                self.entries[scope] = (
                    now,
                    fingerprint,
                    response.status,
                    response.body or b"",
                    response.content_type or "application/json",
                )
            response.headers["Idempotency-Key"] = key
            return response


async def _run(handler, request) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # localstripe's UserError and friends carry their own response
        to_response = getattr(exc, "to_response", None)
        if to_response is None:
            raise
        return to_response()


def _canonical(body: bytes) -> bytes:
    text = body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), sort_keys=True).encode()
    except ValueError:
        return urlencode(sorted(parse_qsl(text, keep_blank_values=True))).encode()


# --- The Connect sandbox -------------------------------------------------------------------------


class ConnectSandbox:
    def __init__(
        self,
        *,
        fixtures: dict[str, dict[str, Any]],
        api_version: str,
        public_base: str,
        data_file: Path | None = None,
        delivery_delay: float = 0.2,
    ) -> None:
        self.fixtures = fixtures
        self.api_version = api_version
        self.public_base = public_base.rstrip("/")
        self.data_file = data_file
        self.delivery_delay = delivery_delay
        self.idempotency = IdempotencyCache()
        self.state: dict[str, Any] = {}
        self.webhooks: dict[str, dict[str, str]] = {}
        self.pending_deliveries: set[asyncio.Task] = set()
        self.reset()
        self.load()

    # state

    def reset(self) -> None:
        self.state = {
            "accounts": {},
            "balances": {},  # connected account id → available minor units
            "links": {},  # token → {account, refresh_url, return_url, expires_at, used}
            "transfers": {},
            "balance_transactions": [],  # newest last
            "events": [],  # newest last
            "disputes": {},
            "payouts": {},
        }

    def load(self) -> None:
        if self.data_file and self.data_file.is_file():
            try:
                saved = json.loads(self.data_file.read_text())
            except ValueError:
                return
            self.state.update(saved.get("state", {}))
            self.webhooks.update(saved.get("webhooks", {}))

    def save(self) -> None:
        if not self.data_file:
            return
        self.data_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.data_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"state": self.state, "webhooks": self.webhooks}))
        tmp.replace(self.data_file)

    def fixture(self, name: str, **changes: Any) -> dict[str, Any]:
        obj = copy.deepcopy(self.fixtures[name])
        obj.update(changes)
        return obj

    # events

    def emit(
        self,
        type_: str,
        obj: dict[str, Any],
        *,
        account: str | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = build_event(
            self.fixtures,
            type_,
            copy.deepcopy(obj),
            api_version=self.api_version,
            account=account,
            previous_attributes=previous_attributes,
        )
        self.state["events"].append(event)
        for hook in list(self.webhooks.values()):
            task = asyncio.get_event_loop().create_task(self._deliver(event, hook["url"], hook["secret"]))
            self.pending_deliveries.add(task)
            task.add_done_callback(self.pending_deliveries.discard)
        return event

    async def _deliver(self, event: dict[str, Any], url: str, secret: str) -> None:
        await asyncio.sleep(self.delivery_delay)
        payload = json.dumps(event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, secret),
        }
        for attempt in range(3):  # Stripe retries for days; three quick tries are enough here
            try:
                async with ClientSession(timeout=ClientTimeout(total=10)) as session:
                    async with session.post(url, data=payload.encode(), headers=headers) as response:
                        if 200 <= response.status < 300:
                            return
                        print(f"webhook {event['type']} → {url}: HTTP {response.status}", flush=True)
            except Exception as exc:
                print(f"webhook {event['type']} → {url}: {exc}", flush=True)
            await asyncio.sleep(1 + attempt)

    def balance_transaction(
        self,
        *,
        amount: int,
        currency: str,
        type_: str,
        source: str,
        description: str,
        reporting_category: str,
        fee: int = 0,
        fee_description: str = "",
    ) -> dict[str, Any]:
        now = int(time.time())
        fee_details = (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": fee_description,
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        )
        txn = self.fixture(
            "balance_transaction",
            id=new_id("txn_"),
            amount=amount,
            available_on=now,
            created=now,
            currency=currency,
            description=description,
            fee=fee,
            fee_details=fee_details,
            net=amount - fee,
            reporting_category=reporting_category,
            source=source,
            status="available",
            type=type_,
        )
        self.state["balance_transactions"].append(txn)
        return txn

    # accounts

    def account(self, account_id: str) -> dict[str, Any]:
        account = self.state["accounts"].get(account_id)
        if account is None:
            raise StripeHTTPError(
                404, f"No such account: '{account_id}'", code="resource_missing", param="account"
            )
        return account

    def account_create(self, params: dict[str, Any]) -> dict[str, Any]:
        type_ = params.get("type") or ("express" if params.get("controller") else None)
        if type_ not in ("express", "standard", "custom"):
            raise StripeHTTPError(
                400, "Invalid type: must be one of custom, express, or standard", param="type"
            )
        account_id = "acct_" + secrets.token_hex(8)
        requirements = copy.deepcopy(self.fixtures["account"]["requirements"])
        account = self.fixture(
            "account",
            id=account_id,
            type=type_,
            email=params.get("email"),
            country=(params.get("country") or "FR").upper(),
            default_currency="eur",
            created=int(time.time()),
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            capabilities={"transfers": "inactive"},
            requirements=requirements,
            metadata=params.get("metadata") or {},
            business_type=params.get("business_type") or "individual",
        )
        account["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
        self.state["accounts"][account_id] = account
        self.state["balances"][account_id] = 0
        return account

    def account_complete(
        self, account_id: str, *, payouts_enabled: bool = True, requirements_due: list[str] | None = None
    ) -> dict[str, Any]:
        account = self.account(account_id)
        previous = {
            "payouts_enabled": account["payouts_enabled"],
            "requirements": copy.deepcopy(account["requirements"]),
        }
        due = list(requirements_due or [])
        account.update(
            details_submitted=True,
            charges_enabled=payouts_enabled,
            payouts_enabled=payouts_enabled,
            capabilities={"transfers": "active" if payouts_enabled else "inactive"},
            tos_acceptance={"date": int(time.time()), "ip": "127.0.0.1", "user_agent": "Courtier sandbox"},
        )
        account["requirements"].update(
            currently_due=due,
            eventually_due=due,
            past_due=[],
            disabled_reason=None if payouts_enabled else "requirements.past_due",
        )
        self.emit("account.updated", account, account=account_id, previous_attributes=previous)
        return account

    def account_link_create(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.account(params.get("account") or "")
        for name in ("refresh_url", "return_url"):
            if not str(params.get(name) or "").startswith(("http://", "https://")):
                raise StripeHTTPError(400, f"Invalid URL: {name}", code="url_invalid", param=name)
        if params.get("type") not in ("account_onboarding", "account_update"):
            raise StripeHTTPError(400, "Invalid type", param="type")
        token = secrets.token_urlsafe(12)
        now = int(time.time())
        self.state["links"][token] = {
            "account": account["id"],
            "refresh_url": params["refresh_url"],
            "return_url": params["return_url"],
            "expires_at": now + 300,
            "used": False,
        }
        return self.fixture(
            "account_link",
            created=now,
            expires_at=now + 300,
            url=f"{self.public_base}/connect/onboarding/{token}",
        )

    # transfers

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        transfer = self.state["transfers"].get(transfer_id)
        if transfer is None:
            raise StripeHTTPError(
                404, f"No such transfer: '{transfer_id}'", code="resource_missing", param="id"
            )
        return transfer

    def transfer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = as_int(params, "amount")
        currency = str(params.get("currency") or "").lower()
        if not currency:
            raise StripeHTTPError(
                400, "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        destination = self.account(str(params.get("destination") or ""))
        if destination["capabilities"].get("transfers") != "active":
            raise StripeHTTPError(
                400,
                "Your destination account needs to have at least one of the following capabilities enabled: "
                "transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        transfer_id = new_id("tr_")
        txn = self.balance_transaction(
            amount=-amount,
            currency=currency,
            type_="transfer",
            source=transfer_id,
            description=params.get("description") or "Transfer",
            reporting_category="transfer",
        )
        transfer = self.fixture(
            "transfer",
            id=transfer_id,
            amount=amount,
            amount_reversed=0,
            balance_transaction=txn["id"],
            created=int(time.time()),
            currency=currency,
            description=params.get("description"),
            destination=destination["id"],
            destination_payment=new_id("py_"),
            metadata=params.get("metadata") or {},
            reversals={
                "data": [],
                "has_more": False,
                "object": "list",
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            reversed=False,
            transfer_group=params.get("transfer_group"),
        )
        self.state["transfers"][transfer_id] = transfer
        self.state["balances"][destination["id"]] += amount
        self.emit("transfer.created", transfer)
        return transfer

    def reversal_create(self, transfer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        transfer = self.transfer(transfer_id)
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = as_int(params, "amount", required=False) or remaining
        if amount > remaining:
            raise StripeHTTPError(
                400,
                f"Transfer {transfer_id} has {remaining} remaining, which is less than the requested {amount}.",
                code="amount_too_large",
                param="amount",
            )
        account_id = transfer["destination"]
        if self.state["balances"].get(account_id, 0) < amount:
            raise StripeHTTPError(
                400,
                "Insufficient funds in the connected account to reverse this transfer.",
                code="balance_insufficient",
                param="amount",
            )
        reversal_id = new_id("trr_")
        txn = self.balance_transaction(
            amount=amount,
            currency=transfer["currency"],
            type_="transfer_refund",
            source=reversal_id,
            description="Transfer reversal",
            reporting_category="transfer_reversal",
        )
        reversal = self.fixture(
            "transfer_reversal",
            id=reversal_id,
            amount=amount,
            balance_transaction=txn["id"],
            created=int(time.time()),
            currency=transfer["currency"],
            metadata=params.get("metadata") or {},
            transfer=transfer_id,
        )
        self.state["balances"][account_id] -= amount
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        self.emit(
            "transfer.reversed",
            transfer,
            previous_attributes={"amount_reversed": transfer["amount_reversed"] - amount},
        )
        return reversal

    # the seller's bank payout (on the connected account)

    def bank_payout(self, account_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self.account(account_id)
        balance = self.state["balances"][account_id]
        amount = as_int(params, "amount", required=False) or balance
        status = params.get("status") or "paid"
        if status not in ("paid", "failed") or amount <= 0 or amount > balance:
            raise StripeHTTPError(400, f"Cannot pay out {amount} with status {status} (balance {balance}).")
        payout = self.fixture(
            "payout",
            id=new_id("po_"),
            amount=amount,
            arrival_date=int(time.time()),
            automatic=True,
            balance_transaction=new_id("txn_"),
            created=int(time.time()),
            currency="eur",
            status=status,
            failure_code="account_closed" if status == "failed" else None,
            failure_message="The bank account has been closed." if status == "failed" else None,
        )
        if status == "paid":
            self.state["balances"][account_id] -= amount
        self.state["payouts"][payout["id"]] = {**payout, "_account": account_id}
        self.emit(f"payout.{status}", payout, account=account_id)
        return payout

    # disputes (what the card network does)

    def dispute_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """A chargeback; `fee` (default 0) is the dispute fee Stripe keeps on its withdrawal."""
        amount = as_int(params, "amount")
        fee = as_int(params, "fee", required=False, minimum=0) or 0
        currency = str(params.get("currency") or "eur").lower()
        charge = str(params.get("charge") or "")
        if not charge.startswith("ch_"):
            raise StripeHTTPError(400, "A dispute needs a charge id.", param="charge")
        dispute_id = new_id("du_")
        txn = self.balance_transaction(
            amount=-amount,
            currency=currency,
            type_="adjustment",
            source=dispute_id,
            description=f"Chargeback withdrawal for {charge}",
            reporting_category="dispute",
            fee=fee,
            fee_description="Dispute fee",
        )
        dispute = self.fixture(
            "dispute",
            id=dispute_id,
            amount=amount,
            currency=currency,
            charge=charge,
            payment_intent=params.get("payment_intent"),
            created=int(time.time()),
            reason=params.get("reason") or "fraudulent",
            status="needs_response",
            is_charge_refundable=False,
            balance_transactions=[txn],
        )
        self.state["disputes"][dispute_id] = dispute
        self.emit("charge.dispute.created", dispute)
        return dispute

    def dispute_close(self, dispute_id: str, params: dict[str, Any]) -> dict[str, Any]:
        dispute = self.state["disputes"].get(dispute_id)
        if dispute is None:
            raise StripeHTTPError(404, f"No such dispute: '{dispute_id}'", code="resource_missing")
        status = params.get("status")
        if status not in ("won", "lost"):
            raise StripeHTTPError(400, "status must be won or lost", param="status")
        if dispute["status"] in ("won", "lost"):
            raise StripeHTTPError(400, "This dispute is already closed.")
        previous = {"status": dispute["status"]}
        dispute["status"] = status
        if status == "won":
            txn = self.balance_transaction(
                amount=dispute["amount"],
                currency=dispute["currency"],
                type_="adjustment",
                source=dispute_id,
                description=f"Chargeback reversal for {dispute['charge']}",
                reporting_category="dispute_reversal",
            )
            dispute["balance_transactions"].append(txn)
        self.emit("charge.dispute.closed", dispute, previous_attributes=previous)
        return dispute


# --- HTTP ----------------------------------------------------------------------------------------


async def _params(request: web.Request) -> dict[str, Any]:
    body = await request.read()
    text = body.decode("utf-8", "replace")
    if request.content_type == "application/json" and text.strip():
        return json.loads(text)
    return unflatten(parse_qsl(text, keep_blank_values=True) + list(request.query.items()))


def _listing(items: list[dict[str, Any]], request: web.Request, url: str) -> dict[str, Any]:
    query = unflatten(list(request.query.items()))
    limit = max(1, min(100, int(query.get("limit") or 10)))
    start = 0
    if query.get("starting_after"):
        ids = [item["id"] for item in items]
        start = ids.index(query["starting_after"]) + 1 if query["starting_after"] in ids else len(items)
    page = items[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(items), "url": url}


def build_app(sandbox: ConnectSandbox) -> web.Application:
    @web.middleware
    async def errors_and_auth(request: web.Request, handler):
        if request.path.startswith("/v1/"):
            auth = request.headers.get("Authorization", "")
            if not re.match(r"^Bearer (sk|rk)_\w+", auth):
                return stripe_error(401, "You did not provide an API key.", type_="invalid_request_error")
        try:
            response = await handler(request)
        except StripeHTTPError as exc:
            return exc.response
        if request.method in ("POST", "DELETE"):
            sandbox.save()
        return response

    app = web.Application(middlewares=[errors_and_auth, sandbox.idempotency.middleware])
    app["sandbox"] = sandbox
    routes = web.RouteTableDef()
    s = sandbox

    @routes.post("/v1/accounts")
    async def accounts_create(request):
        return web.json_response(s.account_create(await _params(request)))

    @routes.get("/v1/accounts/{id}")
    async def accounts_retrieve(request):
        return web.json_response(s.account(request.match_info["id"]))

    @routes.post("/v1/accounts/{id}")
    async def accounts_update(request):
        account = s.account(request.match_info["id"])
        params = await _params(request)
        if "metadata" in params:
            account["metadata"].update(params["metadata"])
        if "email" in params:
            account["email"] = params["email"]
        return web.json_response(account)

    @routes.post("/v1/account_links")
    async def account_links_create(request):
        return web.json_response(s.account_link_create(await _params(request)))

    @routes.post("/v1/transfers")
    async def transfers_create(request):
        return web.json_response(s.transfer_create(await _params(request)))

    @routes.get("/v1/transfers")
    async def transfers_list(request):
        items = sorted(s.state["transfers"].values(), key=lambda t: (t["created"], t["id"]), reverse=True)
        query = unflatten(list(request.query.items()))
        for name in ("destination", "transfer_group"):
            if query.get(name):
                items = [t for t in items if t.get(name) == query[name]]
        return web.json_response(_listing(items, request, "/v1/transfers"))

    @routes.get("/v1/transfers/{id}")
    async def transfers_retrieve(request):
        return web.json_response(s.transfer(request.match_info["id"]))

    @routes.post("/v1/transfers/{id}/reversals")
    async def reversals_create(request):
        return web.json_response(s.reversal_create(request.match_info["id"], await _params(request)))

    @routes.get("/v1/transfers/{id}/reversals")
    async def reversals_list(request):
        transfer = s.transfer(request.match_info["id"])
        return web.json_response(
            _listing(transfer["reversals"]["data"], request, transfer["reversals"]["url"])
        )

    @routes.get("/v1/balance_transactions")
    @routes.get("/v1/balance/history")
    async def balance_transactions_list(request):
        items = list(reversed(s.state["balance_transactions"]))
        return web.json_response(_listing(items, request, "/v1/balance_transactions"))

    @routes.get("/v1/balance_transactions/{id}")
    async def balance_transactions_retrieve(request):
        for txn in s.state["balance_transactions"]:
            if txn["id"] == request.match_info["id"]:
                return web.json_response(txn)
        raise StripeHTTPError(404, "No such balance transaction", code="resource_missing")

    @routes.get("/v1/events")
    async def events_list(request):
        items = list(reversed(s.state["events"]))
        query = unflatten(list(request.query.items()))
        if query.get("type"):
            items = [e for e in items if e["type"] == query["type"]]
        return web.json_response(_listing(items, request, "/v1/events"))

    @routes.get("/v1/events/{id}")
    async def events_retrieve(request):
        for event in s.state["events"]:
            if event["id"] == request.match_info["id"]:
                return web.json_response(event)
        raise StripeHTTPError(404, "No such event", code="resource_missing")

    @routes.get("/v1/disputes/{id}")
    async def disputes_retrieve(request):
        dispute = s.state["disputes"].get(request.match_info["id"])
        if dispute is None:
            raise StripeHTTPError(404, "No such dispute", code="resource_missing")
        return web.json_response(dispute)

    # the hosted onboarding page an account link opens

    @routes.get("/connect/onboarding/{token}")
    async def onboarding_page(request):
        link = s.state["links"].get(request.match_info["token"])
        if link is None:
            return web.Response(status=404, text="Unknown onboarding link.")
        if link["used"] or link["expires_at"] < time.time():
            raise web.HTTPFound(link["refresh_url"])
        account = s.account(link["account"])
        due = ", ".join(account["requirements"].get("currently_due") or []) or "nothing"
        html = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stripe Connect sandbox: onboarding</title>
<body style="font-family:system-ui;max-width:36rem;margin:2rem auto;padding:0 1rem">
<h1>Payout onboarding (sandbox)</h1>
<p>This page stands in for Stripe's hosted onboarding of Express account <code>{account["id"]}</code>.</p>
<p>Stripe still needs: {due}.</p>
<form method="post"><button name="outcome" value="complete">Provide details and enable payouts</button>
<button name="outcome" value="later">Finish later</button></form></body></html>"""
        return web.Response(text=html, content_type="text/html")

    @routes.post("/connect/onboarding/{token}")
    async def onboarding_submit(request):
        link = s.state["links"].get(request.match_info["token"])
        if link is None:
            return web.Response(status=404, text="Unknown onboarding link.")
        if link["used"] or link["expires_at"] < time.time():
            raise web.HTTPFound(link["refresh_url"])
        link["used"] = True
        form = await request.post()
        if form.get("outcome") == "complete":
            s.account_complete(link["account"])
        s.save()
        raise web.HTTPFound(link["return_url"])

    # sandbox controls

    @routes.post("/_config/webhooks/{id}")
    async def config_webhook(request):
        params = await _params(request)
        if not str(params.get("url", "")).startswith("http") or not params.get("secret"):
            raise StripeHTTPError(400, "url and secret are required")
        s.webhooks[request.match_info["id"]] = {"url": params["url"], "secret": params["secret"]}
        return web.json_response({"ok": True})

    @routes.delete("/_config/webhooks/{id}")
    async def config_webhook_delete(request):
        s.webhooks.pop(request.match_info["id"], None)
        return web.json_response({"ok": True})

    @routes.delete("/_config/data")
    async def config_reset(request):
        s.reset()
        return web.json_response({"ok": True})

    @routes.post("/_config/accounts/{id}")
    async def config_account(request):
        params = await _params(request)
        enabled = str(params.get("payouts_enabled", "1")) not in ("0", "false")
        due = params.get("requirements") or []
        due = [due] if isinstance(due, str) else list(due)
        return web.json_response(
            s.account_complete(request.match_info["id"], payouts_enabled=enabled, requirements_due=due)
        )

    @routes.post("/_config/accounts/{id}/payouts")
    async def config_bank_payout(request):
        return web.json_response(s.bank_payout(request.match_info["id"], await _params(request)))

    @routes.get("/_config/accounts/{id}/balance")
    async def config_account_balance(request):
        s.account(request.match_info["id"])
        return web.json_response({"available": s.state["balances"][request.match_info["id"]]})

    @routes.post("/_config/disputes")
    async def config_dispute(request):
        return web.json_response(s.dispute_create(await _params(request)))

    @routes.post("/_config/disputes/{id}/close")
    async def config_dispute_close(request):
        return web.json_response(s.dispute_close(request.match_info["id"], await _params(request)))

    @routes.post("/_config/events")
    async def config_event(request):
        params = await _params(request)
        obj = params.get("object")
        if isinstance(obj, str):
            obj = json.loads(obj)
        if not params.get("type") or not isinstance(obj, dict):
            raise StripeHTTPError(400, "type and object (JSON) are required")
        return web.json_response(s.emit(params["type"], obj, account=params.get("account")))

    app.add_routes(routes)
    return app


# --- Serving on loopback -------------------------------------------------------------------------


def loopback_sockets(port: int) -> list[socket.socket]:
    """127.0.0.1 (and ::1 when there is one): never every interface."""
    socks = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            if family == socket.AF_INET:
                raise
            continue
        socks.append(sock)
    return socks


async def _register_localstripe_webhook(localstripe: str, url: str, secret: str) -> None:
    """localstripe forgets webhooks when it restarts: register ours until it answers."""
    for _ in range(120):
        try:
            async with ClientSession(timeout=ClientTimeout(total=3)) as session:
                async with session.post(
                    f"{localstripe.rstrip('/')}/_config/webhooks/courtier",
                    data={"url": url, "secret": secret},
                ) as response:
                    if response.status == 200:
                        print(f"registered {url} as localstripe's webhook", flush=True)
                        return
        except Exception:
            pass
        await asyncio.sleep(1)
    print("could not register the webhook with localstripe", flush=True)


def default_api_version() -> str:
    import stripe

    return os.environ.get("STRIPE_API_VERSION") or stripe.api_version


def serve_connect(args: argparse.Namespace) -> None:
    sandbox = ConnectSandbox(
        fixtures=load_fixtures(Path(args.fixtures) if args.fixtures else None),
        api_version=args.api_version or default_api_version(),
        public_base=f"http://127.0.0.1:{args.port}",
        data_file=Path(args.data) if args.data else None,
        delivery_delay=args.delivery_delay,
    )
    if args.webhook_url and args.webhook_secret:
        sandbox.webhooks["courtier"] = {"url": args.webhook_url, "secret": args.webhook_secret}
    app = build_app(sandbox)
    if args.localstripe and args.webhook_url and args.webhook_secret:

        async def on_startup(_app):
            _app["register"] = asyncio.get_event_loop().create_task(
                _register_localstripe_webhook(args.localstripe, args.webhook_url, args.webhook_secret)
            )

        app.on_startup.append(on_startup)
    print(f"Connect sandbox on http://127.0.0.1:{args.port} (fixtures: {fixtures_path()})", flush=True)
    web.run_app(app, sock=loopback_sockets(args.port), print=None, access_log=None)


def serve_localstripe(args: argparse.Namespace) -> None:
    from localstripe import resources, server

    # Tests start from nothing and reset between tests: no pickle in /tmp shared with others.
    resources.Store.try_load_from_disk = lambda self: None
    resources.Store.dump_to_disk = lambda self: None
    cache = IdempotencyCache()
    server.app.middlewares.append(cache.middleware)
    print(f"localstripe (with Idempotency-Key) on http://127.0.0.1:{args.port}", flush=True)
    web.run_app(server.app, sock=loopback_sockets(args.port), print=None, access_log=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    connect = sub.add_parser("connect", help="the Connect sandbox")
    connect.add_argument("--port", type=int, default=8421)
    connect.add_argument("--data", help="persist state to this JSON file (make run)")
    connect.add_argument("--fixtures", help="path to fixtures3.json")
    connect.add_argument("--api-version", help="api_version of emitted events (default: the SDK's)")
    connect.add_argument("--webhook-url")
    connect.add_argument("--webhook-secret")
    connect.add_argument("--localstripe", help="also register the webhook with this localstripe")
    connect.add_argument("--delivery-delay", type=float, default=0.2)
    ls = sub.add_parser("localstripe", help="localstripe on loopback with Idempotency-Key, no persistence")
    ls.add_argument("--port", type=int, default=8420)
    extract = sub.add_parser("extract-fixtures", help="refresh payments/stripe_fixtures.json")
    extract.add_argument("source")
    args = parser.parse_args(argv)
    if args.command == "connect":
        serve_connect(args)
    elif args.command == "localstripe":
        serve_localstripe(args)
    else:
        extract_fixtures(Path(args.source))


if __name__ == "__main__":
    main()
