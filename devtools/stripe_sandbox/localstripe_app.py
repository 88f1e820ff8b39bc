"""localstripe (PyPI), patched at launch where it disagrees with Stripe, never edited in place.

- Storage: nothing on disk (tests), or a pickle of our choosing (`make run`), never
  localstripe's /tmp/localstripe.pickle shared by every user of the machine.
- Partial capture: Stripe books only the captured amount to the balance and reports the rest
  as `amount_refunded` on the charge, with no Refund object (localstripe booked the full
  charge and released the rest as a refund).
- Refunds: at most what was captured and not yet refunded; without `amount`, the remainder
  (localstripe refunded the full charge amount, however much was captured or already refunded).
  Each succeeded refund sends `charge.refunded`, as Stripe does.
- Lists page newest first and filter as Stripe's do: `created[gt|gte|lt|lte]` on customers,
  payment intents, setup intents, charges, refunds and events, plus `customer` on payment and
  setup intents, `payment_intent` on charges.
- Every object the product reads has exactly the keys of Stripe's fixture (missing ones filled
  with proper or null values, localstripe's extras dropped); `latest_charge` is an id unless
  expanded; events carry the pinned API version, `pending_webhooks` and `request`.
- Balance history: with `connect_base`, `GET /v1/balance_transactions[/<id>]` (and
  `/v1/balance/history`) also answer the Connect sandbox's balance transactions (transfers,
  reversals, dispute adjustments), so that the platform's balance history is one list at one
  address, as at Stripe.
"""

from __future__ import annotations

import asyncio
import os
import pickle
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from devtools.stripe_sandbox.controls import Controls
from devtools.stripe_sandbox.fixtures import load_fixtures, shape_like
from devtools.stripe_sandbox.idempotency import IdempotencyStore
from devtools.stripe_sandbox.wire import StripeHTTPError, created_filter, list_page, query_params

_PATCHED = False


def configure_storage(data_file: Path | None) -> None:
    """Persist localstripe's store to `data_file`, or nowhere."""
    from localstripe import resources

    def load(store: Any) -> None:
        if data_file is None:
            return
        try:
            with data_file.open("rb") as f:
                old = pickle.load(f)
        except (FileNotFoundError, EOFError, pickle.UnpicklingError):
            return
        store.clear()
        store.update(old)

    def dump(store: Any) -> None:
        if data_file is None:
            return
        data_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = data_file.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(data_file)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump


def _api_version() -> str:
    import stripe

    return os.environ.get("STRIPE_API_VERSION") or stripe.api_version


# --- Stripe's behaviour --------------------------------------------------------------------------


def _patch_capture(r: Any) -> None:
    """Partial capture as Stripe: balance transaction and amount_captured for the captured amount,
    the uncaptured rest in amount_refunded, no Refund object."""

    def captured_amount(charge: Any) -> int:
        if not charge.captured:
            return 0
        return getattr(charge, "_amount_captured", charge.amount)

    def trigger_payment(self: Any, on_success: Any = None) -> None:
        def book() -> None:
            txn = r.BalanceTransaction(
                amount=captured_amount(self),
                currency=self.currency,
                description=self.description,
                exchange_rate=1.0,
                reporting_category="charge",
                source=self.id,
                type="charge",
            )
            self.balance_transaction = txn.id
            self.status = "succeeded"
            if on_success:
                on_success()

        if self._is_async_payment_method():

            async def later() -> None:
                await asyncio.sleep(0.5)
                book()

            asyncio.ensure_future(later())
        else:
            book()

    def capture(self: Any, amount: Any, on_success: Any = None) -> None:
        amount = self.amount if amount is None else r.try_convert_to_int(amount)
        if not (isinstance(amount, int) and 0 < amount <= self.amount):
            raise r.UserError(
                400,
                f"The amount to capture must be a positive integer no greater than {self.amount}.",
                {"code": "amount_too_large", "param": "amount_to_capture"},
            )
        if self.captured or self.status != "succeeded":
            raise r.UserError(
                400, f"Charge {self.id} has already been captured.", {"code": "charge_already_captured"}
            )
        self._amount_captured = amount
        self.captured = True
        self._trigger_payment(on_success=on_success)

    def refunds_total(charge: Any) -> int:
        return sum(refund.amount for refund in charge.refunds._list if refund.status == "succeeded")

    r.Charge._trigger_payment = trigger_payment
    r.Charge._capture = capture
    r.Charge.amount_captured = property(captured_amount)
    r.Charge.amount_refunded = property(
        lambda self: refunds_total(self) + (self.amount - captured_amount(self) if self.captured else 0)
    )
    r.Charge._refunds_total = refunds_total


def _patch_refund(r: Any) -> None:
    original_init = r.Refund.__init__

    def init(self: Any, charge: Any = None, payment_intent: Any = None, amount: Any = None, **kwargs: Any):
        charge_obj = None
        if isinstance(charge, str):
            charge_obj = r.store.get("charge:" + charge)
        elif isinstance(payment_intent, str):
            intent = r.store.get("payment_intent:" + payment_intent)
            charge_obj = intent.latest_charge if intent is not None else None
        if charge_obj is not None and charge_obj.status == "succeeded":
            if not charge_obj.captured:
                raise r.UserError(
                    400,
                    "This PaymentIntent's charge has not been captured: cancel the PaymentIntent instead.",
                    {"code": "charge_not_captured"},
                )
            remaining = charge_obj.amount_captured - charge_obj._refunds_total()
            if remaining <= 0:
                raise r.UserError(
                    400,
                    f"Charge {charge_obj.id} has already been refunded.",
                    {"code": "charge_already_refunded"},
                )
            amount = remaining if amount is None else r.try_convert_to_int(amount)
            if isinstance(amount, int) and amount > remaining:
                raise r.UserError(
                    400,
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                    {"code": "amount_too_large", "param": "amount"},
                )
        original_init(self, charge=charge, payment_intent=payment_intent, amount=amount, **kwargs)
        if self.payment_intent is None:
            self.payment_intent = r.Charge._api_retrieve(self.charge).payment_intent
        if self.status == "succeeded":
            r.schedule_webhook(r.Event("charge.refunded", r.Charge._api_retrieve(self.charge)))

    r.Refund.__init__ = init


# Stripe's list filters beyond localstripe's: parameter → attribute, per resource.
LIST_FILTERS = {
    "Customer": {},
    "PaymentIntent": {"customer": "customer"},
    "SetupIntent": {"customer": "customer", "payment_method": "payment_method"},
    "Charge": {"payment_intent": "payment_intent"},
    "Refund": {},
    "Event": {},
}


def _patch_lists(r: Any) -> None:
    for name, equal in LIST_FILTERS.items():
        cls = getattr(r, name)
        original = cls._api_list_all.__func__

        def list_all(
            cls: Any, url: str, *, _original: Any = original, _equal: dict = equal, **params: Any
        ) -> Any:
            keep = created_filter(params.pop("created", None))
            wanted = {attr: params.pop(param) for param, attr in _equal.items() if param in params}
            try:
                li = _original(cls, url, **params)
            except StripeHTTPError as exc:
                raise r.UserError(exc.status, exc.message, {"param": exc.param}) from None
            items = [
                obj
                for obj in reversed(li._list)
                if keep(obj.created)
                and all(_ref(getattr(obj, attr, None)) == value for attr, value in wanted.items())
            ]
            li._list = sorted(items, key=lambda obj: obj.created, reverse=True)
            return li

        cls._api_list_all = classmethod(list_all)


def _ref(value: Any) -> Any:
    return getattr(value, "id", value)


# --- Stripe's shapes -----------------------------------------------------------------------------

NULL_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def _intent_amounts(intent: dict[str, Any], charge: Any) -> dict[str, int]:
    captured = charge.amount_captured if charge is not None else 0
    capturable = intent["amount"] if intent.get("status") == "requires_capture" else 0
    return {"amount_received": captured, "amount_capturable": capturable}


def _defaults(r: Any, name: str, obj: Any, exported: dict[str, Any]) -> dict[str, Any]:
    """Values for the fixture's keys localstripe lacks (others: fixtures.default_value)."""
    if name == "customer":
        return {
            "balance": -int(exported.get("account_balance") or 0),
            "address": exported.get("address"),
            "invoice_prefix": obj.id[4:12].upper(),
            "next_invoice_sequence": 1,
            "preferred_locales": exported.get("preferred_locales") or [],
            "tax_exempt": "none",
            "shipping": None,
        }
    if name == "payment_method":
        return {"allow_redisplay": "unspecified", "customer": exported.get("customer")}
    if name == "setup_intent":
        return {"payment_method_options": {}, "automatic_payment_methods": None}
    if name == "payment_intent":
        charge = getattr(obj, "latest_charge", None)
        return {
            **_intent_amounts(exported, charge),
            "amount_details": {"tip": {}},
            "confirmation_method": "automatic",
            "payment_method_types": ["card"],
            "payment_method_options": {},
            "automatic_payment_methods": None,
            "canceled_at": None,
            "shipping": None,
            "transfer_data": None,
            "managed_payments": None,
        }
    if name == "charge":
        method = r.store.get("payment_method:" + str(exported.get("payment_method")))
        card = getattr(method, "card", None) or {}
        return {
            "billing_details": {
                "address": dict(NULL_ADDRESS),
                "email": None,
                "name": None,
                "phone": None,
                "tax_id": None,
            },
            "fraud_details": {},
            "outcome": {
                "advice_code": None,
                "network_advice_code": None,
                "network_decline_code": None,
                "network_status": "approved_by_network" if obj.status != "failed" else "declined_by_network",
                "reason": None,
                "seller_message": "Payment complete." if obj.status != "failed" else "The bank declined.",
                "type": "authorized" if obj.status != "failed" else "issuer_declined",
            },
            "payment_method_details": {
                "card": {
                    key: card.get(key)
                    for key in (
                        "brand",
                        "country",
                        "exp_month",
                        "exp_year",
                        "fingerprint",
                        "funding",
                        "last4",
                    )
                },
                "type": "card",
            },
            "shipping": None,
            "transfer_data": None,
            "receipt_url": None,
        }
    if name == "refund":
        return {"destination_details": {"card": {"type": "refund"}, "type": "card"}}
    if name == "balance_transaction":
        return {"balance_type": "payments"}
    if name == "payout":
        return {"reconciliation_status": "not_applicable", "trace_id": None}
    if name == "event":
        return {
            "api_version": _api_version(),
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
        }
    return {}


SHAPED = {
    "Customer": "customer",
    "PaymentMethod": "payment_method",
    "SetupIntent": "setup_intent",
    "PaymentIntent": "payment_intent",
    "Charge": "charge",
    "Refund": "refund",
    "BalanceTransaction": "balance_transaction",
    "Payout": "payout",
    "Event": "event",
}


def _patch_shapes(r: Any) -> None:
    fixtures = load_fixtures()
    for class_name, resource in SHAPED.items():
        cls = getattr(r, class_name)
        original = cls._export

        def export(
            self: Any, expand: Any = None, *, _original: Any = original, _resource: str = resource
        ) -> dict[str, Any]:
            exported = _original(self, expand=expand)
            if _resource == "payment_intent" and isinstance(exported.get("latest_charge"), dict):
                if not any(path.split(".")[0] == "latest_charge" for path in expand or []):
                    exported["latest_charge"] = exported["latest_charge"]["id"]
            if _resource == "event":
                exported["api_version"] = _api_version()
            if _resource == "customer" and exported.get("preferred_locales") is None:
                exported["preferred_locales"] = []
            return shape_like(exported, fixtures[_resource], _defaults(r, _resource, self, exported))

        cls._export = export


def patch_localstripe() -> None:
    """Make localstripe behave as Stripe where the product can tell (once per process)."""
    global _PATCHED
    if _PATCHED:
        return
    from localstripe import resources

    _patch_capture(resources)
    _patch_refund(resources)
    _patch_lists(resources)
    _patch_shapes(resources)
    _PATCHED = True


# --- one balance history -------------------------------------------------------------------------

BALANCE_LISTS = ("/v1/balance_transactions", "/v1/balance/history")


class BalanceHistory:
    """The platform's balance history: localstripe's own plus the Connect sandbox's."""

    def __init__(self, connect_base: str | None) -> None:
        self.connect_base = connect_base.rstrip("/") if connect_base else None

    async def connect_transactions(self, authorization: str) -> list[dict[str, Any]]:
        if not self.connect_base:
            return []
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100"}
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while True:
                async with session.get(
                    f"{self.connect_base}/v1/balance_transactions",
                    params=params,
                    headers={"Authorization": authorization},
                ) as response:
                    if response.status != 200:
                        raise StripeHTTPError(502, "The Connect sandbox did not answer.", type_="api_error")
                    page = await response.json()
                items.extend(page["data"])
                if not page["has_more"]:
                    return items
                params["starting_after"] = page["data"][-1]["id"]

    async def all(self, request: web.Request) -> list[dict[str, Any]]:
        """Newest first; for equal `created`, the later-made first (each side keeps its order)."""
        from localstripe import resources

        local = [
            obj._export()
            for key, obj in reversed(list(resources.store.items()))
            if key.startswith("balance_transaction:")
        ]
        remote = await self.connect_transactions(request.headers.get("Authorization", ""))
        return sorted(local + remote, key=lambda txn: txn["created"], reverse=True)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method != "GET":
            return await handler(request)
        path = request.path.rstrip("/")
        try:
            if path in BALANCE_LISTS:
                query = query_params(request)
                keep = created_filter(query.get("created"))
                items = [
                    txn
                    for txn in await self.all(request)
                    if keep(txn["created"])
                    and all(
                        txn.get(name) == query[name]
                        for name in ("type", "source", "currency")
                        if query.get(name)
                    )
                ]
                return web.json_response(list_page(items, query, "/v1/balance_transactions"))
            for prefix in BALANCE_LISTS:
                if path.startswith(prefix + "/"):
                    wanted = path[len(prefix) + 1 :]
                    for txn in await self.all(request):
                        if txn["id"] == wanted:
                            return web.json_response(txn)
                    raise StripeHTTPError(
                        404, f"No such balance transaction: '{wanted}'", code="resource_missing", param="id"
                    )
        except StripeHTTPError as exc:
            return exc.to_response()
        return await handler(request)


def build_app(*, connect_base: str | None = None, data_file: Path | None = None, from_scratch: bool = True):
    """localstripe's aiohttp app, patched, with our idempotency, controls and balance history."""
    configure_storage(data_file)
    patch_localstripe()
    from localstripe import resources, server

    if not from_scratch:
        resources.store.try_load_from_disk()
    app = server.app
    idempotency = IdempotencyStore()
    controls = Controls(idempotency)
    outermost, innermost = controls.middlewares()
    # localstripe's own: error_middleware, auth_middleware, save_store_middleware.
    app.middlewares.insert(0, outermost)
    app.middlewares.append(BalanceHistory(connect_base).middleware)
    app.middlewares.append(idempotency.middleware)
    app.middlewares.append(innermost)
    controls.add_routes(app)
    app["controls"] = controls
    return app
