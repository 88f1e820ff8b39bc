"""The OpenAPI schema's common parts, added to every operation by `CourtierAutoSchema`
(REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) so that no view can forget them:

- the error answers an operation can give, from what the view is made of: 401 and 403 for every
  authenticated operation, 404 for an object path, 400 for a cursor, a body, a query or an
  `Idempotency-Key`, 409 / 422 for a replayed key, 415 for a body, 429 for a throttled view. A
  view documents its own codes (`error_response`), which win over these.
- the `Idempotency-Key` header on the handlers decorated with `core.idempotency.idempotent`.
- a description: the handler's or the view's docstring, else its summary.
- request bodies required; `additionalProperties: false` on the serializers that refuse unknown
  fields (`refuses_unknown_fields = True`).

`make schema` writes the result to docs/openapi.yaml; tests/test_openapi_schema.py fails when the
committed file differs from what the code generates.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from core.api_errors import error_response
from core.idempotency import MAX_KEY_LENGTH, honours_idempotency_key

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    type={"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    description=(
        "Any unique string (a UUID): the same key with the same body answers the first response "
        "again (header `Idempotent-Replayed: true`) instead of acting twice; with another body "
        "422 `idempotency_key_reused`; while the first request runs 409 `idempotency_key_in_flight`. "
        "Keys are kept per organisation."
    ),
)

IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    location=OpenApiParameter.HEADER,
    response=True,
    type={"type": "string", "enum": ["true"]},
    description="Present when this answer is the replay of an earlier request with the same Idempotency-Key.",
)

ERRORS: dict[int, str] = {
    400: "`invalid`: the input is malformed (per-field `errors`); `invalid_cursor`; `idempotency_key_invalid`.",
    401: "`not_authenticated`, `authentication_failed`: no, or an invalid, expired or revoked API key.",
    403: "`insufficient_scope`: the key lacks this operation's scope (`scope` names it); "
    "`organisation_not_verified`, `organisation_suspended`, `deletion_overdue` where they apply.",
    404: "`not_found`: no such object for your organisation.",
    409: "`idempotency_key_in_flight`: the first request with this key is still running.",
    415: "`unsupported_media_type`: send `application/json`.",
    422: "`idempotency_key_reused`: this key was used with another request.",
    429: "`rate_limited`: too many requests; retry after `Retry-After` seconds (`RateLimit` headers).",
}


class CourtierAutoSchema(AutoSchema):
    def _handler(self) -> Any:
        return getattr(self.view, self.method.lower(), None)

    def _idempotent(self) -> bool:
        handler = self._handler()
        return handler is not None and honours_idempotency_key(handler)

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self._idempotent():
            parameters += [IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED]
        return parameters

    def _get_request_body(self, direction: Any = "request") -> Any:
        # every body the API takes has required fields (or, a oneOf, one of two): never optional
        body = super()._get_request_body(direction)
        if body:
            body["required"] = True
        return body

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> Any:
        schema = super()._map_basic_serializer(serializer, direction)
        if getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema

    def get_description(self) -> str:  # type: ignore[override]
        return super().get_description() or self.get_summary() or ""

    def _error_codes(self) -> set[int]:
        codes: set[int] = set()
        if self.get_auth():
            codes |= {401, 403}
        paginated = (
            self.method == "GET"
            and hasattr(self.view, "list")
            and getattr(self.view, "pagination_class", None) is not None
        )
        if "{" in self.path:
            codes.add(404)
        if paginated:
            codes.add(400)  # invalid_cursor
        has_body = self.method in BODY_METHODS and self.get_request_serializer() is not None
        if has_body:
            codes |= {400, 415}
        if any(parameter["in"] == "query" for parameter in self._get_parameters()):
            codes.add(400)
        if self._idempotent():
            codes |= {400, 409, 422}
        if self.view.get_throttles():
            codes.add(429)
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in sorted(self._error_codes()):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error_response(ERRORS[code]), str(code))
        for code, response in responses.items():
            if not response.get("description") and code.isdigit():
                response["description"] = HTTPStatus(int(code)).phrase
        return dict(sorted(responses.items()))


# A field holding another object's id, and the collection that object is read from.
OBJECT_FIELDS = {"listing": "/listings/", "bid": "/bids/", "trade": "/trades/", "grant": "/access-grants/"}
# A collection whose objects are read from another one (an audience bid is a bid).
READ_FROM = {"/audience-bids/": "/bids/"}


def _component(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _json_schema(holder: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    return _component(holder.get("content", {}).get("application/json", {}).get("schema", {}), components)


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: OpenAPI links from each answer that carries an object's id (a created
    object, a list's first item, a detail) to the operations on that object (POST /bids/ → GET,
    PATCH, DELETE /bids/{public_id}/), from ids in its fields (`bid`, `trade`, `grant`) to those
    objects, and from a listing to the bodies that name one (POST /bids/ `listing`). Clients and
    schemathesis' stateful tests follow them."""
    components = result.get("components", {}).get("schemas", {})
    by_prefix: dict[str, list[tuple[str, str]]] = {}
    takes: dict[str, list[tuple[str, str]]] = {}  # collection → (operation, body field naming one)
    for path, operations in result["paths"].items():
        for operation in operations.values():
            if "{public_id}" in path:
                by_prefix.setdefault(path.split("{public_id}")[0], []).append(
                    (operation["operationId"], path)
                )
            fields = _json_schema(operation.get("requestBody", {}), components).get("properties", {})
            for field, collection in OBJECT_FIELDS.items():
                if fields.get(field, {}).get("format") == "uuid":
                    takes.setdefault(collection, []).append((operation["operationId"], field))
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                body = _json_schema(response, components)
                pointer = "#"
                if "results" in body.get("properties", {}):
                    body = _component(body["properties"]["results"].get("items", {}), components)
                    pointer = "#/results/0"
                properties = body.get("properties", {})
                targets: list[tuple[str, str, str | None]] = []  # (operation, value, body field)
                collection = path.split("{public_id}")[0]
                if "id" in properties and "{public_id}" not in path:
                    targets += [
                        (t, f"{pointer}/id", None) for t, _p in by_prefix.get(READ_FROM.get(path, path), [])
                    ]
                if "id" in properties and "{public_id}" in path and method == "get":
                    targets += [
                        (t, f"{pointer}/id", None) for t, p in by_prefix.get(collection, []) if p != path
                    ]
                if "id" in properties and method == "get":
                    targets += [(t, f"{pointer}/id", field) for t, field in takes.get(collection, [])]
                for field, target_collection in OBJECT_FIELDS.items():
                    prop = properties.get(field, {})
                    if prop.get("format") == "uuid" and not prop.get("nullable"):
                        targets += [
                            (t, f"{pointer}/{field}", None) for t, _p in by_prefix.get(target_collection, [])
                        ]
                links = {
                    target: {"operationId": target, "requestBody": {field: f"$response.body{value}"}}
                    if field  # merged into the generated body
                    else {"operationId": target, "parameters": {"public_id": f"$response.body{value}"}}
                    for target, value, field in targets
                    if target != operation["operationId"]
                }
                if links:
                    response["links"] = dict(sorted(links.items()))
    return result
