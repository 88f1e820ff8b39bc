"""Courtier's admin site: the product's name, the moderators' queues on the index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core import admin_queues


@dataclass(frozen=True)
class AdminPage:
    """A page of the admin that is not a model's (the market dashboard), linked from the index."""

    route: str  # "market/": under /admin/
    view: Callable[[HttpRequest], HttpResponse]
    name: str  # the URL name, under the "admin:" namespace
    label: str | Promise


class CourtierAdminSite(admin.AdminSite):
    site_header = _("Courtier moderation")
    site_title = _("Courtier moderation")
    index_title = _("Queues and records")
    index_template = "admin/courtier_index.html"

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
        if not hasattr(self, "_pages"):
            self._pages: dict[str, AdminPage] = {}
        self._pages[name] = AdminPage(route, view, name, label)

    def pages(self) -> list[AdminPage]:
        return list(getattr(self, "_pages", {}).values())

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [path(page.route, self.admin_view(page.view), name=page.name) for page in self.pages()]
        return own + super().get_urls()
