"""What a test needs to make the sandboxes misbehave like Stripe can, and to see what they were asked.

Shared by both servers (each has its own `Controls`):

  POST   /_config/faults      mode, count=1, method?, path? (regex), seconds?, close?
         mode error_before  answer 500 `api_error` without doing the work (not saved for its key)
              error_after   do the work, then answer 500: the request executed, so its key replays that 500
              timeout       do the work (saved for its key), then hold the answer `seconds` (default 30,
                            longer than any client timeout here), or with close=1 drop the connection
              rate_limit    answer 429 without doing the work (not saved)
              delay         wait `seconds`, then do the work normally (a slow request)
         Each rule applies to the next `count` requests outside /_config/ that match it.
  GET    /_config/faults      the rules still armed
  DELETE /_config/faults      disarm them all
  POST   /_config/rate_limit  per_second (0 = off): a token bucket (burst = per_second) answering 429
                              like Stripe (test mode allows 25 requests per second)
  GET    /_config/rate_limit
  GET    /_config/stats       requests outside /_config/: total, per method + path (ids collapsed to
                              {id}), per status, rate_limited (429s)
  DELETE /_config/stats       reset the counts
  DELETE /_config/data        (each server's own reset) also disarms faults, turns the rate limit off
                              and forgets idempotency keys; the counts stay
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from devtools.stripe_sandbox.idempotency import NOT_EXECUTED, Handler, IdempotencyStore, run_handler
from devtools.stripe_sandbox.wire import StripeHTTPError, error_body, request_params

FAULT_MODES = ("error_before", "error_after", "timeout", "rate_limit", "delay")
HOLD = "sandbox_hold"  # request key: (seconds, close) to apply to the answer once it is saved
ID_SEGMENT = re.compile(
    r"^(?:acct|ba|card|ch|cus|du|evt|ii|in|pi|pm|po|prod|py|re|seti|si|src|sub|tok|tr|trr|txn|link)_\w+$"
)
TEST_MODE_RATE_LIMIT = 25


def route_pattern(method: str, path: str) -> str:
    return method + " " + "/".join("{id}" if ID_SEGMENT.match(part) else part for part in path.split("/"))


def rate_limit_response() -> web.Response:
    """Stripe's answer past its rate limit (the SDK raises stripe.RateLimitError for any 429)."""
    body = error_body(
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        type_="invalid_request_error",
    )
    body["error"]["doc_url"] = "https://stripe.com/docs/error-codes/rate-limit"
    return web.json_response(body, status=429)


def api_error_response(when: str) -> web.Response:
    return web.json_response(
        error_body(f"An unknown error occurred (sandbox fault injected {when} the work).", type_="api_error"),
        status=500,
    )


@dataclass
class Fault:
    id: int
    mode: str
    count: int
    method: str | None
    path: str | None
    seconds: float
    close: bool

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or self.method == request.method) and (
            self.path is None or re.search(self.path, request.path) is not None
        )


class TokenBucket:
    def __init__(self) -> None:
        self.per_second = 0.0
        self.tokens = 0.0
        self.at = time.monotonic()

    def configure(self, per_second: float) -> None:
        self.per_second = self.tokens = per_second
        self.at = time.monotonic()

    def allow(self) -> bool:
        if self.per_second <= 0:
            return True
        now = time.monotonic()
        self.tokens = min(self.per_second, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Controls:
    def __init__(self, idempotency: IdempotencyStore) -> None:
        self.idempotency = idempotency
        self.faults: list[Fault] = []
        self.fault_ids = itertools.count(1)
        self.bucket = TokenBucket()
        self.stats: Counter[str] = Counter()
        self.routes: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    def reset(self) -> None:
        self.faults.clear()
        self.bucket.configure(0)
        self.idempotency.clear()

    def middlewares(self) -> tuple[Any, Any]:
        """(outermost, innermost): the first wraps the whole app, the second sits right inside
        the idempotency middleware."""
        return self.front, self.inject

    # the outermost layer: counts, rate limit, resets, and the answers held back by `timeout`

    @web.middleware
    async def front(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "DELETE" and request.path == "/_config/data":
            self.reset()
        if request.path.startswith("/_config/"):
            return await handler(request)
        status = 500
        try:
            if self.bucket.allow():
                response = await handler(request)
            else:
                response = rate_limit_response()
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.stats["total"] += 1
            self.stats["rate_limited"] += status == 429
            self.routes[route_pattern(request.method, request.path)] += 1
            self.statuses[str(status)] += 1
        hold = request.get(HOLD)
        if hold:
            seconds, close = hold
            await asyncio.sleep(seconds)
            if close and request.transport is not None:
                request.transport.close()
        return response

    # right inside the idempotency layer: injected faults

    def take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.matches(request):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def inject(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = None if request.path.startswith("/_config/") else self.take_fault(request)
        if fault is None:
            return await run_handler(handler, request)
        if fault.mode == "error_before":
            request[NOT_EXECUTED] = True
            return api_error_response("before")
        if fault.mode == "rate_limit":
            request[NOT_EXECUTED] = True
            return rate_limit_response()
        if fault.mode == "delay":
            await asyncio.sleep(fault.seconds)
            return await run_handler(handler, request)
        response = await run_handler(handler, request)
        if fault.mode == "error_after":
            return api_error_response("after")
        request[HOLD] = (fault.seconds, fault.close)  # timeout
        return response

    # /_config/ routes

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/_config/faults", self.faults_add)
        app.router.add_get("/_config/faults", self.faults_list)
        app.router.add_delete("/_config/faults", self.faults_clear)
        app.router.add_post("/_config/rate_limit", self.rate_limit_set)
        app.router.add_get("/_config/rate_limit", self.rate_limit_get)
        app.router.add_get("/_config/stats", self.stats_get)
        app.router.add_delete("/_config/stats", self.stats_clear)

    async def faults_add(self, request: web.Request) -> web.Response:
        try:
            params = await request_params(request)
            mode = params.get("mode")
            if mode not in FAULT_MODES:
                raise StripeHTTPError(400, f"mode must be one of {', '.join(FAULT_MODES)}", param="mode")
            path = params.get("path") or None
            if path:
                try:
                    re.compile(path)
                except re.error as exc:
                    raise StripeHTTPError(400, f"path is not a regular expression: {exc}", param="path")
            try:
                count = int(params.get("count") or 1)
                seconds = float(params.get("seconds") or (30 if mode == "timeout" else 1))
            except ValueError:
                raise StripeHTTPError(400, "count and seconds must be numbers")
            if count < 1 or seconds < 0:
                raise StripeHTTPError(400, "count must be at least 1 and seconds at least 0")
        except StripeHTTPError as exc:
            return exc.to_response()
        fault = Fault(
            id=next(self.fault_ids),
            mode=mode,
            count=count,
            method=(params.get("method") or "").upper() or None,
            path=path,
            seconds=seconds,
            close=str(params.get("close", "")).lower() in ("1", "true"),
        )
        self.faults.append(fault)
        return web.json_response(asdict(fault))

    async def faults_list(self, _request: web.Request) -> web.Response:
        return web.json_response({"data": [asdict(fault) for fault in self.faults]})

    async def faults_clear(self, _request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"data": []})

    async def rate_limit_set(self, request: web.Request) -> web.Response:
        params = await request_params(request)
        try:
            per_second = float(params.get("per_second", 0) or 0)
        except ValueError:
            return StripeHTTPError(400, "per_second must be a number", param="per_second").to_response()
        self.bucket.configure(max(per_second, 0))
        return await self.rate_limit_get(request)

    async def rate_limit_get(self, _request: web.Request) -> web.Response:
        return web.json_response({"per_second": self.bucket.per_second})

    async def stats_get(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "total": self.stats["total"],
                "rate_limited": self.stats["rate_limited"],
                "by_route": dict(sorted(self.routes.items())),
                "by_status": dict(sorted(self.statuses.items())),
            }
        )

    async def stats_clear(self, request: web.Request) -> web.Response:
        self.stats.clear()
        self.routes.clear()
        self.statuses.clear()
        return await self.stats_get(request)
