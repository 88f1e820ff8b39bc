"""Stripe's Idempotency-Key semantics, as https://docs.stripe.com/api/idempotent_requests states them,
for every mutating request (POST, DELETE) outside `/_config/`, on both sandboxes:

- the key is scoped to the account: the API key and the `Stripe-Account` header are part of it;
- a request with a key whose first request is still executing gets 409 `idempotency_error`;
- the first result of a request that began executing is saved whatever its status (5xx
  included) and replayed for 24 h with `Idempotent-Replayed: true`;
- the same key with other parameters (method, path or body) gets 400 `idempotency_error`;
- a request that did not begin executing is not saved: it failed validation (a 4xx other than
  402), was rate limited (429), or was refused by an injected fault "before the work"
  (`NOT_EXECUTED` set on the request by the layer that refused it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from devtools.stripe_sandbox.wire import error_body

TTL_SECONDS = 24 * 3600
MUTATING = ("POST", "DELETE")
NOT_EXECUTED = "sandbox_not_executed"  # request key: this request did no work

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Saved:
    at: float
    fingerprint: str
    status: int
    body: bytes
    content_type: str


def executed(request: web.Request, response: web.StreamResponse) -> bool:
    if request.get(NOT_EXECUTED):
        return False
    return not (400 <= response.status < 500 and response.status != 402)


async def run_handler(handler: Handler, request: web.Request) -> web.StreamResponse:
    """The handler's answer, with errors that carry their own answer (localstripe's UserError, our
    StripeHTTPError) and crashes (500 `api_error`, as Stripe answers) turned into responses."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        to_response = getattr(exc, "to_response", None)
        if to_response is not None:
            return to_response()
        return web.json_response(
            error_body(f"An unknown error occurred ({type(exc).__name__}).", type_="api_error"), status=500
        )


class IdempotencyStore:
    def __init__(self, ttl_seconds: float = TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self.saved: dict[tuple[str, str, str], Saved] = {}
        self.executing: set[tuple[str, str, str]] = set()

    def clear(self) -> None:
        self.saved.clear()

    def _expire(self, now: float) -> None:
        for scope in [s for s, saved in self.saved.items() if now - saved.at >= self.ttl_seconds]:
            del self.saved[scope]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method not in MUTATING or not key or request.path.startswith("/_config/"):
            return await run_handler(handler, request)
        scope = (request.headers.get("Authorization", ""), request.headers.get("Stripe-Account", ""), key)
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path}?".encode() + _canonical(await request.read())
        ).hexdigest()
        now = time.time()
        self._expire(now)
        saved = self.saved.get(scope)
        if saved is not None:
            if saved.fingerprint != fingerprint:
                return _refuse(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    key,
                )
            replay = web.Response(status=saved.status, body=saved.body, content_type=saved.content_type)
            replay.headers["Idempotent-Replayed"] = "true"
            replay.headers["Idempotency-Key"] = key
            return replay
        if scope in self.executing:
            return _refuse(
                409,
                "There is currently another in-progress request using this Idempotent Key (that "
                "probably means you submitted twice, and the other request is still going through): "
                f"{key}. Please try again later.",
                key,
            )
        self.executing.add(scope)
        try:
            response = await run_handler(handler, request)
            if executed(request, response) and isinstance(response, web.Response):
                self.saved[scope] = Saved(
                    at=now,
                    fingerprint=fingerprint,
                    status=response.status,
                    body=bytes(response.body or b""),
                    content_type=response.content_type or "application/json",
                )
        finally:
            self.executing.discard(scope)
        response.headers["Idempotency-Key"] = key
        return response


def _refuse(status: int, message: str, key: str) -> web.Response:
    response = web.json_response(error_body(message, type_="idempotency_error"), status=status)
    response.headers["Idempotency-Key"] = key
    return response


def _canonical(body: bytes) -> bytes:
    text = body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), sort_keys=True).encode()
    except ValueError:
        return urlencode(sorted(parse_qsl(text, keep_blank_values=True))).encode()
