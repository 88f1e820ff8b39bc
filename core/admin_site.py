"""Courtier's admin site: the product's name, the moderators' queues on the index."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from core import admin_queues


class CourtierAdminSite(admin.AdminSite):
    site_header = _("Courtier moderation")
    site_title = _("Courtier moderation")
    index_title = _("Queues and records")
    index_template = "admin/courtier_index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        queues = [
            {"label": q.label, "count": q.count(), "url": q.url, "key": q.key} for q in admin_queues.queues()
        ]
        return super().index(request, {"queues": queues, **(extra_context or {})})
