"""One error shape for the API: {"code": ..., "detail": ..., "field"?: ..., "errors"?: {...}}."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ServiceError


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.status_code = status.HTTP_400_BAD_REQUEST
        response.data = {"code": "invalid", "detail": "Invalid input.", "errors": response.data}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {"code": getattr(exc, "default_code", "error"), "detail": str(detail)}
    return response


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer."""

    code = serializers.CharField(help_text="machine-readable, e.g. payment_method_required")
    detail = serializers.CharField(help_text="for people")
    field = serializers.CharField(required=False, help_text="the input at fault, when one is")
    errors = serializers.DictField(required=False, help_text="per-field errors of a 400")


def error_response(description: str) -> OpenApiResponse:
    """A documented error answer: `description` names its codes."""
    return OpenApiResponse(ErrorSerializer, description=description)
