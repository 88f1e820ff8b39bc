"""`Idempotency-Key` on buyer POSTs: same key and body → the same response; same key with another
body → 422; same key while the first request is still running → 409."""

from __future__ import annotations

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from marketplace.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(view_method):
    """Decorate an APIView's post(). Responses of any status are replayed, except server errors."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH:
            return Response(
                {"code": "idempotency_key_invalid", "detail": "Use 1 to 255 characters."}, status=400
            )
        organisation = request.user.organisation
        fingerprint = _fingerprint(request)
        try:
            with transaction.atomic(durable=True):
                record = IdempotencyRecord.objects.create(
                    organisation=organisation,
                    key=key,
                    method_path=f"{request.method} {request.path}",
                    request_hash=fingerprint,
                )
        except IntegrityError:
            record = IdempotencyRecord.objects.get(organisation=organisation, key=key)
            if record.request_hash != fingerprint:
                return Response(
                    {"code": "idempotency_key_reused", "detail": "This key was used with another request."},
                    status=422,
                )
            if record.response_status is None:
                return Response(
                    {
                        "code": "idempotency_key_in_flight",
                        "detail": "The first request with this key is still running.",
                    },
                    status=409,
                )
            return Response(
                record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"}
            )
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:
            from config.api_errors import exception_handler

            handled = exception_handler(exc, {"view": self, "request": request})
            if handled is None or handled.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=record.pk).delete()  # let the client retry
                raise
            response = handled
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
        else:
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                response_status=response.status_code, response_body=response.data
            )
        return response

    return wrapper
