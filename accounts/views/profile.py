"""The seller's profile (targeting attributes and precise values) and life events."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import (
    LifeEventForm,
    ProfileForm,
    add_service_error,
    service_error_message,
)
from accounts.models import User
from accounts.views.access import seller_required
from core.errors import ServiceError

# What the profile form edits, as the stored profile gives it (precise inputs start blank).
PROFILE_FORM_FIELDS = (
    "gender",
    "region",
    "mobile_os",
    "mobile_operator",
    "interests",
    "affinities",
    "birth_date",
    "postcode",
    "phone",
)


def _profile_initial(seller: User) -> dict:
    values = selectors.seller_profile_values(seller=seller)
    initial = {name: values[name] for name in PROFILE_FORM_FIELDS}
    initial["postcode"] = initial["postcode"] or ""
    initial["phone"] = initial["phone"] or ""
    return initial


@require_http_methods(["GET", "POST"])
@seller_required
def profile(request):
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.seller_profile_update(seller=request.user, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("Your profile is saved."))
                return redirect("seller-profile")
    else:
        form = ProfileForm(initial=_profile_initial(request.user))
    return render(request, "accounts/profile.html", {"form": form})


def _life_events_page(request, form, status=200):
    events = list(selectors.life_events_for(seller=request.user))
    details = selectors.life_event_details(seller=request.user, events=events)
    for event in events:
        event.details = details.get(event.pk, "")
    return render(request, "accounts/life_events.html", {"events": events, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@seller_required
def life_events(request):
    if request.method == "GET":
        return _life_events_page(request, LifeEventForm())
    form = LifeEventForm(request.POST)
    if form.is_valid():
        try:
            services.life_event_set(seller=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Life event saved."))
            return redirect("seller-life-events")
    return _life_events_page(request, form)


@require_POST
@seller_required
def life_event_remove(request, kind: str):
    try:
        services.life_event_remove(seller=request.user, kind=kind)
    except ServiceError as exc:
        messages.error(request, service_error_message(exc))
    else:
        messages.success(request, _("Life event removed."))
    return redirect("seller-life-events")
