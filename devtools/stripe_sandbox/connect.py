"""The Connect sandbox: what localstripe lacks, in Stripe's wire format, reached through the official SDK.

  (routes in connect_http.py)
  POST/GET /v1/accounts[/<id>], GET /v1/accounts, POST /v1/account_links,
  POST/GET /v1/transfers[/<id>], POST/GET /v1/transfers/<id>/reversals,
  GET /v1/balance_transactions[/<id>], GET /v1/events[/<id>], GET /v1/disputes/<id>.
Lists filter as Stripe's do (`created[gt|gte|lt|lte]` everywhere, plus `destination` and
`transfer_group` on transfers, `type` on events, `type`/`source`/`currency` on balance
transactions) and page newest first.
Every object is the matching resource of Stripe's published fixtures (`fixtures3.json`) with its
id, amounts, statuses and references changed; every other field is kept as Stripe has it.
It emits signed events (account.updated, transfer.created, transfer.reversed, payout.paid,
payout.failed, charge.dispute.*) to registered webhook URLs, and keeps its own balance history
(transfers, transfer reversals, dispute adjustments), which the localstripe launcher merges into
its own (`--connect`) so that the platform's balance history has one address, as at Stripe.

Sandbox controls (what Stripe's dashboard, the seller or the card network would do):
  GET  /connect/onboarding/<token>          the hosted onboarding page an account link opens
  POST /_config/webhooks/<id>               url, secret (like localstripe)
  DELETE /_config/data                      forget everything
  POST /_config/accounts/<id>               complete=1 | payouts_enabled=0/1 | requirements[]=…
  POST /_config/accounts/<id>/payouts       amount?, status=paid|failed: the seller's bank payout
  GET  /_config/accounts/<id>/balance       the connected account's available balance
  POST /_config/disputes                    charge, payment_intent, amount, currency, reason, fee? (dispute fee)
  POST /_config/disputes/<id>/close         status=won|lost
  POST /_config/events                      type, object (JSON), account?: emit any event
plus the fault, rate-limit and stats controls of `controls`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from devtools.stripe_sandbox.controls import Controls
from devtools.stripe_sandbox.fixtures import build_event
from devtools.stripe_sandbox.idempotency import IdempotencyStore
from devtools.stripe_sandbox.wire import (
    StripeHTTPError,
    as_int,
    new_id,
    sign,
)


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
        self.idempotency = IdempotencyStore()
        self.controls = Controls(self.idempotency)
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
