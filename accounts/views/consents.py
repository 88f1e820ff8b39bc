"""Consents: the matrix whose cells grant, renew and withdraw, the history and its receipts.

Every action works as a plain form POST followed by a redirect (no JavaScript) and, with htmx
(`HX-Request`), answers the one matrix cell it changed plus the active list and the history
out of band, so withdrawing from a cell takes as few steps as granting from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services, taxonomy
from accounts.forms import (
    ConsentGrantForm,
    ConsentRenewForm,
    add_service_error,
    service_error_message,
)
from accounts.models import ConsentGrant
from accounts.views.access import seller_required
from core.errors import ServiceError

CONSENT_HISTORY_LIMIT = 100
CELL_TEMPLATE = "accounts/includes/consent_cell.html"
LIVE_TEMPLATE = "accounts/includes/consents_live.html"
WINDOW_CHOICES = ConsentRenewForm.base_fields["window_days"].choices  # lazy: labels in the request's language


def _with_days_left(grants: list[ConsentGrant], now: datetime | None = None) -> list[ConsentGrant]:
    now = now or timezone.now()
    for grant in grants:
        grant.days_left = selectors.consent_days_left(grant.expires_at, now)
    return grants


@dataclass
class Cell:
    category: taxonomy.DataCategory
    purpose: taxonomy.Purpose
    grant: ConsentGrant | None  # the pair's latest grant, whatever its status
    state: str  # "granted", "expired" or "none" (never granted, or withdrawn)

    @property
    def key(self) -> str:
        return f"{self.category.value}:{self.purpose.value}"

    @property
    def sensitive(self) -> bool:
        return self.category.value in taxonomy.SENSITIVE_CATEGORIES


def _cell(category: str, purpose: str, grant: ConsentGrant | None, now: datetime) -> Cell:
    state = "none"
    if grant is not None and grant.status != ConsentGrant.Status.REVOKED:
        live = grant.status == ConsentGrant.Status.ACTIVE and grant.expires_at > now
        state = "granted" if live else "expired"
        grant.days_left = selectors.consent_days_left(grant.expires_at, now) if live else 0
    return Cell(taxonomy.DataCategory(category), taxonomy.Purpose(purpose), grant, state)


def _seller_state(seller, now: datetime) -> tuple[dict[tuple[str, str], ConsentGrant], list, list]:
    """(latest grant by pair, active grants newest first, latest history events): two queries."""
    latest = {(g.category, g.purpose): g for g in selectors.consent_latest_per_pair(seller=seller)}
    active = [g for g in latest.values() if g.status == ConsentGrant.Status.ACTIVE and g.expires_at > now]
    active.sort(key=lambda g: (g.granted_at, g.pk), reverse=True)
    _with_days_left(active, now)
    history = list(
        selectors.consent_events_for(seller=seller)
        .select_related("grant")
        .defer("receipt")
        .order_by("-occurred_at", "-pk")[:CONSENT_HISTORY_LIMIT]
    )
    return latest, active, history


def _lists_context(active: list, history: list) -> dict:
    return {
        "active": active,
        "history": history,
        "history_limit": CONSENT_HISTORY_LIMIT,
        "renew_form": ConsentRenewForm(),
        "window_choices": WINDOW_CHOICES,
    }


def _page_context(request, *, focus_key: str = "", message: str = "", error: str = "") -> dict:
    now = timezone.now()
    latest, active, history = _seller_state(request.user, now)
    matrix = [
        (
            category,
            [_cell(category, purpose, latest.get((category, purpose)), now) for purpose in taxonomy.Purpose],
        )
        for category in taxonomy.DataCategory
    ]
    return {
        "purposes": list(taxonomy.Purpose),
        "matrix": matrix,
        "active": active,
        "history": history,
        "history_limit": CONSENT_HISTORY_LIMIT,
        "renew_form": ConsentRenewForm(),
        "window_choices": WINDOW_CHOICES,
        "focus_key": focus_key,
        "cell_message": message,
        "cell_error": error,
    }


def _consents_page(request, *, grant_form=None, error=None, status=200):
    if grant_form is None:
        initial = {k: request.GET[k] for k in ("category", "purpose") if k in request.GET}
        grant_form = ConsentGrantForm(initial=initial)
    context = {**_page_context(request), "grant_form": grant_form, "error": error}
    return render(request, "accounts/consents.html", context, status=status)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _live_response(
    request, category: str, purpose: str, *, message: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    """htmx: the page's live part (matrix, active list, history) as it is now, with the message
    or error in the cell of (category, purpose) and the focus on its next control."""
    context = _page_context(request, focus_key=f"{category}:{purpose}", message=message, error=error)
    context["grant_form"] = ConsentGrantForm()
    return render(request, LIVE_TEMPLATE, context, status=status)


def _cell_response(request, cell: Cell, *, confirm: bool = False) -> HttpResponse:
    """htmx: one matrix cell (the in-cell withdrawal confirmation, or its cancellation)."""
    context = {"cell": cell, "confirm": confirm, "focus_key": cell.key, "window_choices": WINDOW_CHOICES}
    return render(request, CELL_TEMPLATE, context)


def _pair_or_404(category: str, purpose: str) -> tuple[str, str]:
    if category not in taxonomy.DataCategory.values or purpose not in taxonomy.Purpose.values:
        raise Http404
    return category, purpose


@require_GET
@seller_required
def consents(request):
    return _consents_page(request)


@require_GET
@seller_required
def consent_cell(request, category: str, purpose: str):
    """One matrix cell (htmx: the "cancel" of an in-cell confirmation); without htmx, the page."""
    category, purpose = _pair_or_404(category, purpose)
    if not _is_htmx(request):
        return redirect(reverse("seller-consents") + f"#cell-{category}-{purpose}")
    grant = selectors.consent_latest_per_pair(seller=request.user).filter(category=category, purpose=purpose)
    return _cell_response(request, _cell(category, purpose, grant.first(), timezone.now()))


@require_POST
@seller_required
def consent_grant(request):
    form = ConsentGrantForm(request.POST)
    if form.is_valid():
        try:
            services.consent_grant(seller=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            if _is_htmx(request):
                data = form.cleaned_data
                return _live_response(
                    request, data["category"], data["purpose"], message=_("Consent granted.")
                )
            messages.success(request, _("Consent granted."))
            return redirect("seller-consents")
    category, purpose = request.POST.get("category", ""), request.POST.get("purpose", "")
    if _is_htmx(request) and category in taxonomy.DataCategory.values and purpose in taxonomy.Purpose.values:
        errors = [str(e) for errors in form.errors.values() for e in errors]
        return _live_response(request, category, purpose, error=" ".join(errors), status=400)
    return _consents_page(request, grant_form=form)


def _own_grant(request, grant_id: int) -> ConsentGrant:
    grant = selectors.consent_grants_for(seller=request.user).filter(pk=grant_id).first()
    if grant is None:
        raise Http404
    return grant


@require_POST
@seller_required
def consent_renew(request, grant_id: int):
    grant = _own_grant(request, grant_id) if _is_htmx(request) else None
    form = ConsentRenewForm(request.POST)
    if not form.is_valid():
        error = " ".join(form.errors.get("window_days", []))
        if grant is not None:
            return _live_response(request, grant.category, grant.purpose, error=error, status=400)
        return _consents_page(request, error=error, status=400)
    try:
        services.consent_renew(
            seller=request.user, grant_id=grant_id, window_days=form.cleaned_data["window_days"]
        )
    except ServiceError as exc:
        error = service_error_message(exc)
        if grant is not None:
            return _live_response(request, grant.category, grant.purpose, error=error, status=exc.status_code)
        return _consents_page(request, error=error, status=exc.status_code)
    if grant is not None:
        return _live_response(request, grant.category, grant.purpose, message=_("Consent renewed."))
    messages.success(request, _("Consent renewed."))
    return redirect("seller-consents")


@require_http_methods(["GET", "POST"])
@seller_required
def consent_revoke(request, grant_id: int):
    """GET: the confirmation (in the cell with htmx, a page without); POST: withdraw."""
    grant = _own_grant(request, grant_id)
    htmx = _is_htmx(request)
    if request.method == "POST":
        try:
            services.consent_revoke(seller=request.user, grant_id=grant.pk)
        except ServiceError as exc:
            error = service_error_message(exc)
            if htmx:
                return _live_response(
                    request, grant.category, grant.purpose, error=error, status=exc.status_code
                )
            context = {"grant": grant, "error": error}
            return render(request, "accounts/consent_revoke.html", context, status=exc.status_code)
        message = _("Consent revoked. Buyers who hold this data must delete it.")
        if htmx:
            return _live_response(request, grant.category, grant.purpose, message=message)
        messages.success(request, message)
        return redirect("seller-consents")
    now = timezone.now()
    if htmx:
        return _cell_response(request, _cell(grant.category, grant.purpose, grant, now), confirm=True)
    return render(request, "accounts/consent_revoke.html", {"grant": _with_days_left([grant], now)[0]})


@require_GET
@seller_required
def consent_receipt(request, receipt_id):
    """The event's stored receipt (Kantara consent receipt), downloaded as a JSON file."""
    event = selectors.consent_events_for(seller=request.user).filter(receipt_id=receipt_id).first()
    if event is None:
        raise Http404
    response = JsonResponse(event.full_receipt, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="consent-receipt-{event.receipt_id}.json"'
    return response
