"""Courtier's admin site: the product's name, the moderators' queues on the index, and who may
enter: active staff whose session passed a second factor (django-otp, issue 14)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device

from core import admin_queues


@dataclass(frozen=True)
class AdminPage:
    """A page of the admin that is not a model's (the market dashboard), linked from the index."""

    route: str  # "market/": under /admin/
    view: Callable[[HttpRequest], HttpResponse]
    name: str  # the URL name, under the "admin:" namespace
    label: str | Promise


def is_verified(user: Any) -> bool:
    """The session passed a second factor (django_otp's middleware gives the user is_verified)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


class CourtierAdminSite(admin.AdminSite):
    site_header = _("Courtier moderation")
    site_title = _("Courtier moderation")
    index_title = _("Queues and records")
    index_template = "admin/courtier_index.html"
    # the page where a staff member without a second factor sets one up (accounts' URLconf,
    # outside this site's permission check)
    enrol_url_name = "staff-second-factor"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self._pages: dict[str, AdminPage] = {}
        # records are rejected, suspended or erased by services, never deleted in bulk
        self.disable_action("delete_selected")

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and is_verified(request.user)

    def _needs_enrolment(self, request: HttpRequest) -> bool:
        user = request.user
        return (
            user.is_authenticated
            and user.is_active
            and user.is_staff
            and not is_verified(user)
            and not user_has_device(user, confirmed=True)
        )

    def _enrol_redirect(self, request: HttpRequest) -> HttpResponse:
        url = reverse(self.enrol_url_name)
        following = request.POST.get("next") or request.GET.get("next")
        if following and url_has_allowed_host_and_scheme(following, allowed_hosts={request.get_host()}):
            url = f"{url}?{urlencode({'next': following})}"
        return redirect(url)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Email, password and the second factor's code; a staff member who has no device yet
        signs in with the password alone and is sent to set one up."""
        if request.method == "GET" and self._needs_enrolment(request):
            return self._enrol_redirect(request)
        response = super().login(request, extra_context)
        if request.method == "POST" and response.status_code == 302 and self._needs_enrolment(request):
            return self._enrol_redirect(request)
        return response

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        queues = [
            {"label": q.label, "count": q.count(), "url": q.url, "key": q.key} for q in admin_queues.queues()
        ]
        pages = [{"label": page.label, "url": reverse(f"admin:{page.name}")} for page in self.pages()]
        return super().index(request, {"queues": queues, "pages": pages, **(extra_context or {})})

    def register_view(
        self, route: str, view: Callable[[HttpRequest], HttpResponse], name: str, label: str | Promise
    ) -> None:
        """Adds a page to the admin from an app's admin.py (core imports no app): served under
        /admin/<route>, for staff only (admin_view), linked from the index."""
        self._pages[name] = AdminPage(route, view, name, label)

    def pages(self) -> list[AdminPage]:
        return list(self._pages.values())

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [path(page.route, self.admin_view(page.view), name=page.name) for page in self.pages()]
        return own + super().get_urls()
