"""Admin building blocks every app's admin uses: read-only model admins and inlines for
append-only or derived rows, and actions that ask the moderator for a reason first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError
from core.models import AuditEntry
from core.money import format_money

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise  # dev-only package: for the type checker

_Row = TypeVar("_Row", bound=Model)


def money_column(
    amount_field: str, currency_field: str = "currency", description: StrOrPromise = "", *, currency: str = ""
) -> Callable[[Any, Model], str]:
    """A list_display / readonly_fields column showing an amount in minor units as people read it
    ("€2.94", "2,94 €"; never broken across lines), sortable by the amount. `currency` fixes the
    currency for a model without one; a row without a currency reads as euros, the market's one.
    Assign it in the class body: `amount_shown = money_column("amount", "currency", _("amount"))`."""

    @admin.display(description=description or amount_field, ordering=amount_field)
    def column(model_admin: Any, obj: Model) -> str:
        amount = getattr(obj, amount_field)
        if amount is None:
            return "—"
        shown = format_money(amount, currency or getattr(obj, currency_field, "") or "EUR")
        return format_html('<span class="money">{}</span>', shown)

    return column


def labels_column(
    codes: Callable[[Any], list[str]], labels: dict[str, Any], description: StrOrPromise
) -> Callable[[Any, Model], str]:
    """A column of a row's codes (categories, purposes, interests) shown by their labels, without
    their explanation in brackets ("Demographics", not "Demographics (age band, …)")."""

    @admin.display(description=description)
    def column(model_admin: Any, obj: Model) -> str:
        shown = (str(labels.get(code, code)).split(" (")[0] for code in codes(obj))
        return ", ".join(shown) or "—"

    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only or derived rows: visible, never edited from the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """The rows of a child table (events, entries, shares) shown under their parent, never
    added, edited or deleted from the admin."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Reason"),
        help_text=_("Required: it is kept in the audit trail and may be shown to the people concerned."),
        error_messages={"required": _("Give a reason: every moderator action records why.")},
    )


def action_with_reason(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[_Row],
    title: StrOrPromise,
    apply: Callable[[_Row, str], object],
) -> TemplateResponse | None:
    """An admin action that first asks for a reason (required: without one the form comes back
    with its error in place), then calls `apply(obj, reason)` per object.

    `apply` calls a service; its ServiceErrors are shown per object and change nothing for it.
    """
    form = ReasonForm(request.POST) if "apply" in request.POST else ReasonForm()
    if form.is_bound and form.is_valid():
        done = 0
        for obj in queryset:
            try:
                apply(obj, form.cleaned_data["reason"])
                done += 1
            except ServiceError as exc:
                model_admin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        if done:
            model_admin.message_user(request, _("%d updated.") % done)
        return None
    return TemplateResponse(
        request,
        "admin/action_with_reason.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "form": form,
            "queryset": queryset,
            "action": request.POST.get("action"),
            "opts": model_admin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit trail: readable and filterable, never editable (core.audit)."""

    list_display = [
        "occurred_at",
        "actor",
        "actor_role",
        "action",
        "target_type",
        "target_repr",
        "short_reason",
    ]
    list_filter = ["actor_role", "target_type", "action", ("occurred_at", admin.DateFieldListFilter)]
    search_fields = ["action", "target_repr", "target_id", "reason", "actor__email"]
    date_hierarchy = "occurred_at"
    list_select_related = ["actor"]
    show_full_result_count = False

    @admin.display(description=_("reason"))
    def short_reason(self, entry: AuditEntry) -> str:
        return entry.reason if len(entry.reason) <= 80 else entry.reason[:79] + "…"
