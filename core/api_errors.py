"""One error format for the API: RFC 9457 problem details (`application/problem+json`).

    {"type": "<SITE_URL>/api/problems/<code>/", "title": "...", "status": 422, "detail": "...",
     "instance": "/api/v1/bids/", "code": "below_floor",
     "errors": [{"pointer": "/amount_cents", "code": "below_floor", "detail": "..."}]}

`code` is listed in core.problems (one code per condition); `errors` only when fields are at
fault, each with a JSON Pointer into the body, or `#/query/<name>` for a query parameter. DRF's
exceptions, core.errors.ServiceError and any unhandled exception (500, logged, no traceback
leaked) all answer this way; config.urls' handler404/handler500 do for the rest of /api/.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ServiceError
from core.problems import PROBLEM_CONTENT_TYPE, field_pointer, problem_body

logger = logging.getLogger("courtier.api")

# methods whose input is the query string rather than a body
QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
SERVER_ERROR_DETAIL = "The server failed to handle this request. It was logged; try again later."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    request = context.get("request")
    instance = request.path if request is not None else ""
    in_query = request is not None and request.method in QUERY_METHODS
    if isinstance(exc, ServiceError):
        return problem_response(exc.as_problem(instance, in_query=in_query), exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, instance)
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail, [], in_query)
        where = "query parameters" if in_query else "request body"
        body = problem_body(
            status=400,
            code="invalid",
            detail=f"The {where} is invalid: {len(errors)} error(s), see `errors`.",
            instance=instance,
            errors=errors,
        )
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, exceptions.APIException):
        code, status_code, detail = _code_of(exc), response.status_code, _text(exc.detail)
        if isinstance(exc, exceptions.NotFound) and detail == str(CursorPagination.invalid_cursor_message):
            code, status_code, detail = "invalid_cursor", 400, "This cursor was not handed out by this API."
        body = problem_body(status=status_code, code=code, detail=detail, instance=instance)
        response.status_code = status_code
    else:  # pragma: no cover - DRF only answers its own exceptions
        return _server_error(exc, instance)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(
    body: dict[str, Any], status_code: int, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _server_error(exc: Exception, instance: str) -> Response:
    # the idempotency decorator calls the handler too, then re-raises: log each exception once
    if not getattr(exc, "_problem_logged", False):
        logger.error("Unhandled exception on %s", instance, exc_info=exc)
        try:
            exc._problem_logged = True  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover
            pass
    set_rollback()
    body = problem_body(status=500, code="server_error", detail=SERVER_ERROR_DETAIL, instance=instance)
    return problem_response(body, 500)


def _code_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(exc, exceptions.Throttled):
        return "rate_limited"  # one code for every 429, whichever throttle refused
    code = getattr(detail, "code", None) if isinstance(detail, exceptions.ErrorDetail) else None
    return str(code or exc.default_code)


def _text(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _text(detail[0])
    if isinstance(detail, dict) and detail:
        return _text(next(iter(detail.values())))
    return str(detail)


def _field_errors(detail: Any, path: list[str | int], in_query: bool) -> list[dict[str, str]]:
    """DRF's nested error detail, flattened to [{pointer, code, detail}]."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            sub = path if key == api_settings.NON_FIELD_ERRORS_KEY else [*path, key]
            errors += _field_errors(value, sub, in_query)
        return errors
    if isinstance(detail, list):
        errors = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):  # a list serializer's or list field's items
                errors += _field_errors(item, [*path, index], in_query)
            else:
                errors += _field_errors(item, path, in_query)
        return errors
    code = getattr(detail, "code", None) or "invalid"
    return [{"pointer": field_pointer(path, in_query), "code": str(code), "detail": str(detail)}]


# --- Schema -----------------------------------------------------------------------------------


class ProblemFieldErrorSerializer(serializers.Serializer):
    """One field at fault."""

    pointer = serializers.CharField(
        help_text='JSON Pointer into the request body (`/criteria/categories/0`, `""` for the whole '
        "body), or `#/query/<name>` for a query parameter"
    )
    code = serializers.CharField(help_text="machine-readable, e.g. required, below_floor")
    detail = serializers.CharField(help_text="for people")


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details: the body of every 4xx and 5xx answer under /api/."""

    type = serializers.URLField(help_text="the page documenting this code, /api/problems/<code>/")
    title = serializers.CharField(help_text="short, fixed per code")
    status = serializers.IntegerField(help_text="the HTTP status")
    detail = serializers.CharField(help_text="for people: this occurrence")
    instance = serializers.CharField(help_text="the request path")
    code = serializers.CharField(help_text="machine-readable, e.g. payment_method_required")
    errors = ProblemFieldErrorSerializer(
        many=True, required=False, help_text="the fields at fault (validation errors only)"
    )


def error_response(description: str) -> OpenApiResponse:
    """A documented error answer: `description` names its codes."""
    return OpenApiResponse(ProblemSerializer, description=description)


def problem_media_type_hook(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular postprocessing: error answers are `application/problem+json`."""
    # the Problem component, or one extending it (`<Something>Problem`, e.g. with `missing`)
    problem_refs = {
        f"#/components/schemas/{name}"
        for name in result.get("components", {}).get("schemas", {})
        if name.endswith("Problem")
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                media = content.get("application/json")
                if media and media.get("schema", {}).get("$ref") in problem_refs:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
    return result
