"""Test-only routes under /api/ (pytest.mark.urls): an unhandled exception in a DRF view and in a
plain Django view, and a view that is always throttled, on top of the project's own routes."""

from __future__ import annotations

from django.urls import path
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from config import urls as project_urls

SECRET = "s3cr3t-in-the-traceback"


class Boom(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError(SECRET)


class AlwaysThrottled(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        return False

    def wait(self) -> float:
        return 7


class Throttled(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [AlwaysThrottled]

    def get(self, request):
        return Response({})


def django_boom(request):
    raise RuntimeError(SECRET)


urlpatterns = [
    path("api/test/boom/", Boom.as_view()),
    path("api/test/throttled/", Throttled.as_view()),
    path("api/test/django-boom/", django_boom),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500
