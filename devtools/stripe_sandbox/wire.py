"""Stripe's wire format: errors, form encoding, ids, list pages and filters, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def error_body(
    message: str, *, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def stripe_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    type_: str = "invalid_request_error",
) -> web.Response:
    return web.json_response(error_body(message, type_=type_, code=code, param=param), status=status)


class StripeHTTPError(Exception):
    """Raised by a handler; becomes Stripe's error answer (`to_response`, like localstripe's UserError)."""

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
        self.status, self.message, self.code, self.param, self.type_ = status, message, code, param, type_

    def to_response(self) -> web.Response:
        return stripe_error(self.status, self.message, code=self.code, param=self.param, type_=self.type_)


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
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


async def request_params(request: web.Request) -> dict[str, Any]:
    """The parameters of a request: its JSON or form body, plus its query string."""
    text = (await request.read()).decode("utf-8", "replace")
    if request.content_type == "application/json" and text.strip():
        return json.loads(text)
    return unflatten(parse_qsl(text, keep_blank_values=True) + list(request.query.items()))


def query_params(request: web.Request) -> dict[str, Any]:
    return unflatten(list(request.query.items()))


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


def created_filter(created: Any) -> Callable[[int], bool]:
    """Stripe's `created` list filter: an exact timestamp or a dict of gt/gte/lt/lte."""
    if created is None or created == "":
        return lambda _ts: True
    if not isinstance(created, dict):
        exact = _timestamp(created)
        return lambda ts: ts == exact
    bounds = {op: _timestamp(value) for op, value in created.items()}
    unknown = set(bounds) - {"gt", "gte", "lt", "lte"}
    if unknown:
        raise StripeHTTPError(400, f"Received unknown parameter: created[{unknown.pop()}]", param="created")

    def check(ts: int) -> bool:
        return (
            ("gt" not in bounds or ts > bounds["gt"])
            and ("gte" not in bounds or ts >= bounds["gte"])
            and ("lt" not in bounds or ts < bounds["lt"])
            and ("lte" not in bounds or ts <= bounds["lte"])
        )

    return check


def _timestamp(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeHTTPError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param="created"
        ) from None


def list_page(items: list[dict[str, Any]], query: dict[str, Any], url: str) -> dict[str, Any]:
    """One page of a Stripe list (`items` newest first): limit, starting_after, ending_before."""
    try:
        limit = max(1, min(100, int(query.get("limit") or 10)))
    except ValueError:
        raise StripeHTTPError(400, "Invalid integer: limit", param="limit") from None
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if query.get("starting_after"):
        if query["starting_after"] not in ids:
            raise StripeHTTPError(400, f"No such object: '{query['starting_after']}'", param="starting_after")
        start = ids.index(query["starting_after"]) + 1
        page = items[start : start + limit]
        has_more = start + limit < end
    elif query.get("ending_before"):
        if query["ending_before"] not in ids:
            raise StripeHTTPError(400, f"No such object: '{query['ending_before']}'", param="ending_before")
        end = ids.index(query["ending_before"])
        page = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        page = items[:limit]
        has_more = limit < len(items)
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for this exact payload."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
