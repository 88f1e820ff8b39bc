"""The Connect sandbox's HTTP face: Stripe's routes and the sandbox controls, as an aiohttp app
over a `ConnectSandbox` (connect.py holds the state and the behaviour; see its docstring)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

from devtools.stripe_sandbox.connect import ConnectSandbox
from devtools.stripe_sandbox.wire import (
    StripeHTTPError,
    created_filter,
    list_page,
    query_params,
    request_params,
    stripe_error,
)


def _listing(items: list[dict[str, Any]], request: web.Request, url: str, **equal: str) -> dict[str, Any]:
    """A list page of `items` (oldest first) filtered as Stripe filters: `created` and the
    equality filters named in `equal` (query parameter → object field)."""
    query = query_params(request)
    keep = created_filter(query.get("created"))
    items = [item for item in items if keep(item["created"])]
    for param, name in equal.items():
        if query.get(param):
            items = [item for item in items if item.get(name) == query[param]]
    newest_first = sorted(reversed(items), key=lambda item: item["created"], reverse=True)
    return list_page(newest_first, query, url)


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
            return exc.to_response()
        if request.method in ("POST", "DELETE"):
            sandbox.save()
        return response

    outermost, innermost = sandbox.controls.middlewares()
    app = web.Application(middlewares=[outermost, errors_and_auth, sandbox.idempotency.middleware, innermost])
    sandbox.controls.add_routes(app)
    app["sandbox"] = sandbox
    routes = web.RouteTableDef()
    s = sandbox

    @routes.post("/v1/accounts")
    async def accounts_create(request):
        return web.json_response(s.account_create(await request_params(request)))

    @routes.get("/v1/accounts")
    async def accounts_list(request):
        return web.json_response(_listing(list(s.state["accounts"].values()), request, "/v1/accounts"))

    @routes.get("/v1/accounts/{id}")
    async def accounts_retrieve(request):
        return web.json_response(s.account(request.match_info["id"]))

    @routes.post("/v1/accounts/{id}")
    async def accounts_update(request):
        account = s.account(request.match_info["id"])
        params = await request_params(request)
        if "metadata" in params:
            account["metadata"].update(params["metadata"])
        if "email" in params:
            account["email"] = params["email"]
        return web.json_response(account)

    @routes.post("/v1/account_links")
    async def account_links_create(request):
        return web.json_response(s.account_link_create(await request_params(request)))

    @routes.post("/v1/transfers")
    async def transfers_create(request):
        return web.json_response(s.transfer_create(await request_params(request)))

    @routes.get("/v1/transfers")
    async def transfers_list(request):
        return web.json_response(
            _listing(
                list(s.state["transfers"].values()),
                request,
                "/v1/transfers",
                destination="destination",
                transfer_group="transfer_group",
            )
        )

    @routes.get("/v1/transfers/{id}")
    async def transfers_retrieve(request):
        return web.json_response(s.transfer(request.match_info["id"]))

    @routes.post("/v1/transfers/{id}/reversals")
    async def reversals_create(request):
        return web.json_response(s.reversal_create(request.match_info["id"], await request_params(request)))

    @routes.get("/v1/transfers/{id}/reversals")
    async def reversals_list(request):
        transfer = s.transfer(request.match_info["id"])
        return web.json_response(
            _listing(list(reversed(transfer["reversals"]["data"])), request, transfer["reversals"]["url"])
        )

    @routes.get("/v1/balance_transactions")
    @routes.get("/v1/balance/history")
    async def balance_transactions_list(request):
        return web.json_response(
            _listing(
                s.state["balance_transactions"],
                request,
                "/v1/balance_transactions",
                type="type",
                source="source",
                currency="currency",
            )
        )

    @routes.get("/v1/balance_transactions/{id}")
    async def balance_transactions_retrieve(request):
        for txn in s.state["balance_transactions"]:
            if txn["id"] == request.match_info["id"]:
                return web.json_response(txn)
        raise StripeHTTPError(404, "No such balance transaction", code="resource_missing")

    @routes.get("/v1/events")
    async def events_list(request):
        return web.json_response(_listing(s.state["events"], request, "/v1/events", type="type"))

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
        params = await request_params(request)
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
        params = await request_params(request)
        enabled = str(params.get("payouts_enabled", "1")) not in ("0", "false")
        due = params.get("requirements") or []
        due = [due] if isinstance(due, str) else list(due)
        return web.json_response(
            s.account_complete(request.match_info["id"], payouts_enabled=enabled, requirements_due=due)
        )

    @routes.post("/_config/accounts/{id}/payouts")
    async def config_bank_payout(request):
        return web.json_response(s.bank_payout(request.match_info["id"], await request_params(request)))

    @routes.get("/_config/accounts/{id}/balance")
    async def config_account_balance(request):
        s.account(request.match_info["id"])
        return web.json_response({"available": s.state["balances"][request.match_info["id"]]})

    @routes.post("/_config/disputes")
    async def config_dispute(request):
        return web.json_response(s.dispute_create(await request_params(request)))

    @routes.post("/_config/disputes/{id}/close")
    async def config_dispute_close(request):
        return web.json_response(s.dispute_close(request.match_info["id"], await request_params(request)))

    @routes.post("/_config/events")
    async def config_event(request):
        params = await request_params(request)
        obj = params.get("object")
        if isinstance(obj, str):
            obj = json.loads(obj)
        if not params.get("type") or not isinstance(obj, dict):
            raise StripeHTTPError(400, "type and object (JSON) are required")
        return web.json_response(s.emit(params["type"], obj, account=params.get("account")))

    app.add_routes(routes)
    return app
