"""The pages documenting each problem type (`type` of every API error, core.problems) and the
handler404 / handler500 that answer problem details for the rest of /api/ (unrouted paths,
malformed ids in the URL, errors outside DRF)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from core.api_errors import SERVER_ERROR_DETAIL
from core.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, problem_body, problem_type_url

logger = logging.getLogger("courtier.api")
API_PREFIX = "/api/"


@require_safe
def problem_index(request: HttpRequest) -> HttpResponse:
    problems = sorted(PROBLEM_TYPES.values(), key=lambda p: (p.status, p.code))
    return render(request, "core/problem_index.html", {"problems": problems})


@require_safe
def problem_detail(request: HttpRequest, code: str) -> HttpResponse:
    problem = PROBLEM_TYPES.get(code)
    if problem is None:
        raise Http404(f"No problem type {code!r}.")
    return render(
        request, "core/problem_detail.html", {"problem": problem, "type_url": problem_type_url(code)}
    )


def _problem(request: HttpRequest, status: int, code: str, detail: str) -> JsonResponse:
    body = problem_body(status=status, code=code, detail=detail, instance=request.path)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


@csrf_exempt
def api_unrouted(request: HttpRequest) -> HttpResponse:
    """The last route under /api/: a 404 problem even with DEBUG (whose 404 page ignores
    handler404). Keeps CommonMiddleware's APPEND_SLASH redirect, which a matching route disables."""
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/", getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        if match is not None and match.func is not api_unrouted:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return _problem(request, 404, "not_found", "No such path in this API.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: problem details under /api/ (an Http404 outside DRF, e.g. an unknown problem page)."""
    if request.path.startswith(API_PREFIX):
        return _problem(request, 404, "not_found", "No such path in this API.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: problem details under /api/ (Django logs the exception itself)."""
    if request.path.startswith(API_PREFIX):
        return _problem(request, 500, "server_error", SERVER_ERROR_DETAIL)
    return defaults.server_error(request)
