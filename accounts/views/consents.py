"""Consents: grant, renew, revoke, their history and receipts."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
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


def _with_days_left(grants: list[ConsentGrant]) -> list[ConsentGrant]:
    now = timezone.now()
    for grant in grants:
        grant.days_left = max((grant.expires_at - now).days, 0)
    return grants


def _consents_page(request, *, grant_form=None, error=None, status=200):
    seller = request.user
    active = _with_days_left(list(selectors.consent_active_for(seller=seller)))
    by_cell = {(g.category, g.purpose): g for g in active}
    matrix = [
        (category, [(purpose, by_cell.get((category.value, purpose.value))) for purpose in taxonomy.Purpose])
        for category in taxonomy.DataCategory
    ]
    history = list(
        selectors.consent_events_for(seller=seller)
        .select_related("grant")
        .defer("receipt")
        .order_by("-occurred_at", "-pk")[:CONSENT_HISTORY_LIMIT]
    )
    if grant_form is None:
        initial = {k: request.GET[k] for k in ("category", "purpose") if k in request.GET}
        grant_form = ConsentGrantForm(initial=initial)
    context = {
        "purposes": list(taxonomy.Purpose),
        "matrix": matrix,
        "active": active,
        "history": history,
        "history_limit": CONSENT_HISTORY_LIMIT,
        "grant_form": grant_form,
        "renew_form": ConsentRenewForm(),
        "error": error,
    }
    return render(request, "accounts/consents.html", context, status=status)


@require_GET
@seller_required
def consents(request):
    return _consents_page(request)


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
            messages.success(request, _("Consent granted."))
            return redirect("seller-consents")
    return _consents_page(request, grant_form=form)


@require_POST
@seller_required
def consent_renew(request, grant_id: int):
    form = ConsentRenewForm(request.POST)
    if not form.is_valid():
        error = " ".join(form.errors.get("window_days", []))
        return _consents_page(request, error=error, status=400)
    try:
        services.consent_renew(
            seller=request.user, grant_id=grant_id, window_days=form.cleaned_data["window_days"]
        )
    except ServiceError as exc:
        return _consents_page(request, error=service_error_message(exc), status=exc.status_code)
    messages.success(request, _("Consent renewed."))
    return redirect("seller-consents")


@require_http_methods(["GET", "POST"])
@seller_required
def consent_revoke(request, grant_id: int):
    grant = selectors.consent_grants_for(seller=request.user).filter(pk=grant_id).first()
    if grant is None:
        raise Http404
    if request.method == "POST":
        try:
            services.consent_revoke(seller=request.user, grant_id=grant.pk)
        except ServiceError as exc:
            context = {"grant": grant, "error": service_error_message(exc)}
            return render(request, "accounts/consent_revoke.html", context, status=exc.status_code)
        messages.success(request, _("Consent revoked. Buyers who hold this data must delete it."))
        return redirect("seller-consents")
    return render(request, "accounts/consent_revoke.html", {"grant": _with_days_left([grant])[0]})


@require_GET
@seller_required
def consent_receipt(request, receipt_id):
    event = selectors.consent_events_for(seller=request.user).filter(receipt_id=receipt_id).first()
    if event is None:
        raise Http404
    return JsonResponse(event.full_receipt, json_dumps_params={"indent": 2, "ensure_ascii": False})
