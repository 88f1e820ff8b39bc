"""HTTP middleware shared by every app."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from core import admin_display
from core.audit import request_actor

# Answers under these paths may carry personal data whoever asks: the buyer API (API keys are
# not sessions, so `request.user` is anonymous there) and the seller's export download.
NO_STORE_PATH_PREFIXES = ("/api/", "/my-data/")
# the admin site's mount point (config.urls)
ADMIN_PATH_PREFIX = "/admin/"


class NoStorePersonalDataMiddleware:
    """`Cache-Control: no-store` on every answer that may show personal data, so that no
    browser, shared proxy or back/forward cache keeps a copy: every answer to a signed-in user
    (seller pages, the export download, the admin) and every answer under NO_STORE_PATH_PREFIXES.
    Public pages and static files (served by WhiteNoise before this runs) keep their caching.

    It replaces whatever Cache-Control a view set: `no-store` alone says all there is to say.
    Needs AuthenticationMiddleware before it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in or request.path_info.startswith(NO_STORE_PATH_PREFIXES):
            response["Cache-Control"] = "no-store"
            del response["Expires"]
        return response


class RateLimitHeadersMiddleware:
    """Puts the rate limiter's headers (RateLimit-Policy, RateLimit and, on a 429, Retry-After;
    left on the request by accounts.api.throttling.ApiRateThrottle) on the answer, whichever
    view or error handler wrote it. A Retry-After already set is kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        found = getattr(request, "ratelimit_headers", None)
        if found:
            for name, value in found.items():
                if name == "Retry-After" and (response.status_code != 429 or response.has_header(name)):
                    continue
                response[name] = value
        return response


class AuditActorMiddleware:
    """Attributes the audit entries a request writes (core.audit) to its signed-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_actor(request):
            return self.get_response(request)


class AdminPseudonymsMiddleware:
    """Inside the admin (its views and their templates, rendered before this returns), sellers
    are named by their pseudonym: core.admin_display says why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(ADMIN_PATH_PREFIX):
            return self.get_response(request)
        with admin_display.pseudonymous():
            return self.get_response(request)
