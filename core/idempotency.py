"""`Idempotency-Key` on every buyer API request that changes something (POST, PATCH, DELETE): same
key and body → the same response; same key with another body (or on another endpoint) → 422; same
key while the first request is still running → 409. Each such handler is decorated with
`idempotent`; a test walks the URL resolver so that a new route cannot forget it.

Keys are scoped to the caller's organisation. The first request claims the key by inserting its
row (the unique constraint decides between concurrent requests), commits, runs the view, then
stores the response. Server errors release the key so the client can retry. A claim left behind
by a crashed worker is taken over once it is older than IDEMPOTENCY_IN_FLIGHT_SECONDS.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import IdempotencyRecord
from core.problems import PROBLEM_CONTENT_TYPE, problem_body

MAX_KEY_LENGTH = 255

_View = TypeVar("_View", bound=APIView)
_HandlerParams = ParamSpec("_HandlerParams")


def _in_flight_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_IN_FLIGHT_SECONDS", 60))


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _error(code: str, detail: str, status: int, instance: str) -> Response:
    body = problem_body(status=status, code=code, detail=detail, instance=instance)
    return Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _claim(organisation, key: str, method_path: str, fingerprint: str, instance: str) -> int | Response:
    """The id of our claim on the key, or the response to give instead (a replay, 409 or 422)."""
    for _attempt in range(3):
        try:
            # its own transaction (a savepoint inside a caller's): committed before the view runs
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    organisation=organisation, key=key, method_path=method_path, request_hash=fingerprint
                ).pk
        except IntegrityError:
            pass  # the key is taken: replay, refuse, or take over a stale claim
        record = IdempotencyRecord.objects.filter(organisation=organisation, key=key).first()
        if record is None:
            continue  # the first request failed and released the key meanwhile: claim it again
        if record.request_hash != fingerprint:
            return _error("idempotency_key_reused", "This key was used with another request.", 422, instance)
        if record.response_status is not None:
            return Response(
                record.response_body,
                status=record.response_status,
                headers={"Idempotent-Replayed": "true"},
                content_type=PROBLEM_CONTENT_TYPE if record.response_status >= 400 else None,
            )
        now = timezone.now()
        taken_over = IdempotencyRecord.objects.filter(
            pk=record.pk, response_status=None, created_at__lt=now - _in_flight_timeout()
        ).update(created_at=now)
        if taken_over:
            return record.pk
        return _error(
            "idempotency_key_in_flight", "The first request with this key is still running.", 409, instance
        )
    return _error(
        "idempotency_key_in_flight", "The first request with this key is still running.", 409, instance
    )


def idempotent(
    view_method: Callable[Concatenate[_View, Request, _HandlerParams], Response],
) -> Callable[Concatenate[_View, Request, _HandlerParams], Response]:
    """Decorate an APIView handler. Responses of any status are replayed, except server errors."""

    @functools.wraps(view_method)
    def wrapper(
        self: _View, request: Request, *args: _HandlerParams.args, **kwargs: _HandlerParams.kwargs
    ) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH:
            return _error("idempotency_key_invalid", "Use 1 to 255 characters.", 400, request.path)
        claimed = _claim(
            request.user.organisation,
            key,
            f"{request.method} {request.path}"[:300],
            _fingerprint(request),
            request.path,
        )
        if isinstance(claimed, Response):
            return claimed
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:
            handled = self.get_exception_handler()(exc, self.get_exception_handler_context())
            if handled is None or handled.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=claimed).delete()  # let the client retry
                raise
            response = handled
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=claimed).delete()
        else:
            IdempotencyRecord.objects.filter(pk=claimed).update(
                response_status=response.status_code, response_body=response.data
            )
        return response

    wrapper.honours_idempotency_key = True
    return wrapper


def honours_idempotency_key(handler: Callable[..., Any]) -> bool:
    """Whether a view's handler (`View.post`, …) is wrapped by `idempotent`."""
    return getattr(handler, "honours_idempotency_key", False)
