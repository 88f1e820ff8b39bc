"""The seller web UI. Thin views: forms check the input, services write, selectors read.

Every page is for sellers only (`seller_required`). Every write is a POST; a `ServiceError`
becomes a form error (status 200) or, for per-grant actions, an error on the page with the
error's status, and nothing is stored.
"""

from __future__ import annotations

import functools
import json
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services, taxonomy
from accounts.errors import ServiceError
from accounts.forms import (
    ConsentGrantForm,
    ConsentRenewForm,
    EmailAuthenticationForm,
    EraseForm,
    LifeEventForm,
    PhoneCodeForm,
    ProfileForm,
    SignupForm,
    add_service_error,
    service_error_message,
)
from accounts.models import ConsentGrant, User

sms_logger = logging.getLogger("courtier.sms")


def seller_required(view):
    """Log in first; then only sellers pass. Moderators go to the admin; buyers get 403."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return auth_views.redirect_to_login(request.get_full_path(), reverse("login"))
        if user.role == User.Role.MODERATOR or user.is_staff:
            return redirect("admin:index")
        if user.role != User.Role.SELLER:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _set_language_cookie(response, language: str):
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
    )
    return response


# ---------------------------------------------------------------------------------------------
# Sign up, log in, log out
# ---------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("seller-dashboard")
    form = SignupForm(request.POST or None, initial={"language": translation.get_language()})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.seller_create(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
                language=form.cleaned_data["language"],
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            translation.activate(user.preferred_language)
            messages.success(request, _("Welcome to Courtier. Start by completing your profile."))
            return _set_language_cookie(redirect("seller-profile"), user.preferred_language)
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login view with the email form; the seller's language follows them in."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        return _set_language_cookie(response, form.get_user().preferred_language)


class LogoutView(auth_views.LogoutView):
    pass


# ---------------------------------------------------------------------------------------------
# Dashboard and verification
# ---------------------------------------------------------------------------------------------

BADGE_LABELS = {
    "email_verified": gettext_lazy("Email verified"),
    "phone_verified": gettext_lazy("Phone verified"),
    "profile_complete": gettext_lazy("Profile complete"),
    "verified_seller": gettext_lazy("Verified seller"),
}


@require_GET
@seller_required
def dashboard(request):
    badges = selectors.seller_badges(seller=request.user)
    context = {
        "badges": [(key, BADGE_LABELS[key], badges[key]) for key in BADGE_LABELS],
        "active_consents": selectors.consent_active_for(seller=request.user).count(),
        "life_events": selectors.life_events_for(seller=request.user).count(),
    }
    return render(request, "accounts/dashboard.html", context)


@require_GET
@seller_required
def verification(request):
    return render(request, "accounts/verification.html", {"code_form": PhoneCodeForm()})


@require_POST
@seller_required
def email_verification_send(request):
    token = services.email_verification_token(request.user)
    # SITE_URL, not the request's Host header: an emailed link must not point elsewhere.
    link = settings.SITE_URL.rstrip("/") + reverse("email-verify", args=[token])
    context = {"user": request.user, "link": link}
    subject = render_to_string("registration/email_verification_subject.txt", context).strip()
    body = render_to_string("registration/email_verification.txt", context)
    send_mail(subject, body, None, [request.user.email])
    messages.success(
        request,
        _("We sent a link to %(email)s. Open it to verify your email.") % {"email": request.user.email},
    )
    return redirect("seller-verification")


@require_http_methods(["GET", "POST"])
def email_verify(request, token: str):
    """GET shows a confirm button (mail scanners follow links); POST verifies."""
    if request.method == "POST":
        try:
            services.email_verify(token=token)
        except ServiceError as exc:
            return render(
                request, "accounts/email_verify.html", {"error": service_error_message(exc)}, status=400
            )
        messages.success(request, _("Your email is verified."))
        return redirect("seller-dashboard" if request.user.is_authenticated else "login")
    return render(request, "accounts/email_verify.html", {"token": token})


@require_POST
@seller_required
def phone_code_send(request):
    try:
        code = services.phone_verification_code(seller=request.user)
    except ServiceError as exc:
        messages.error(request, service_error_message(exc))
        return redirect("seller-profile")
    # No SMS gateway yet: the code goes to the log (and, in development, on screen).
    sms_logger.info("SMS to seller %s: Courtier code %s", request.user.pk, code)
    messages.success(request, _("We sent a code by SMS to your phone."))
    if settings.DEBUG:
        messages.info(request, _("Development mode: the code is %(code)s.") % {"code": code})
    return redirect("seller-verification")


@require_POST
@seller_required
def phone_verify(request):
    form = PhoneCodeForm(request.POST)
    if form.is_valid():
        try:
            services.phone_verify(seller=request.user, code=form.cleaned_data["code"])
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Your phone number is verified."))
            return redirect("seller-dashboard")
    return render(request, "accounts/verification.html", {"code_form": form})


# ---------------------------------------------------------------------------------------------
# Profile and life events
# ---------------------------------------------------------------------------------------------


def _profile_initial(seller: User) -> dict:
    profile = seller.profile
    precise = services.seller_precise_values(seller=seller)
    return {
        "gender": profile.gender,
        "region": profile.region,
        "mobile_os": profile.mobile_os,
        "mobile_operator": profile.mobile_operator,
        "interests": profile.interests,
        "affinities": profile.affinities,
        "birth_date": precise.get("birth_date"),
        "postcode": precise.get("postcode") or "",
        "phone": precise.get("phone") or "",
    }


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
    details = services.life_event_details(seller=request.user, events=events)
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


# ---------------------------------------------------------------------------------------------
# Consents
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# My data: see, download, erase
# ---------------------------------------------------------------------------------------------

EXPORT_SECTION_TITLES = {
    "account": gettext_lazy("Account"),
    "verification": gettext_lazy("Verification"),
    "profile": gettext_lazy("Profile"),
    "life_events": gettext_lazy("Life events"),
    "consent_grants": gettext_lazy("Consents"),
    "consent_events": gettext_lazy("Consent history"),
}


def _export_sections(data: dict) -> list[dict]:
    """Shape the export for display: a dict becomes rows, a list of dicts a table, anything else JSON."""
    sections = []
    for key, value in data.items():
        if key in ("format", "generated_at"):
            continue
        section = {"key": key, "title": EXPORT_SECTION_TITLES.get(key, key.replace("_", " ").capitalize())}
        if isinstance(value, dict):
            section["rows"] = [
                (k, ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in value.items()
            ]
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            columns = [c for c in (value[0].keys() if value else []) if c != "receipt"]
            section["columns"] = columns
            section["table"] = [[item.get(c) for c in columns] for item in value]
        else:
            section["json"] = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        sections.append(section)
    return sections


@require_GET
@seller_required
def my_data(request):
    data = selectors.seller_export(seller=request.user)
    context = {"sections": _export_sections(data), "generated_at": data["generated_at"]}
    return render(request, "accounts/my_data.html", context)


@require_GET
@seller_required
def my_data_export(request):
    data = selectors.seller_export(seller=request.user)
    body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    filename = f"courtier-my-data-{timezone.localdate():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["GET", "POST"])
@seller_required
def my_data_erase(request):
    form = EraseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.seller_erase(seller=request.user)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            logout(request)
            messages.success(request, _("Your account and your data are erased. Goodbye."))
            return redirect("login")
    return render(request, "accounts/erase.html", {"form": form})


# ---------------------------------------------------------------------------------------------
# Privacy notice (public)
# ---------------------------------------------------------------------------------------------


@require_GET
def privacy_notice(request):
    """The privacy notice (GDPR Art. 13): public, linked from every page and the `policyUrl` of
    every consent receipt."""
    context = {
        "controller": settings.CONSENT_CONTROLLER,
        "purposes": [(purpose.label, taxonomy.TCF_PURPOSE_IDS[purpose]) for purpose in taxonomy.Purpose],
        "categories": [
            (category.label, category in taxonomy.SENSITIVE_CATEGORIES) for category in taxonomy.DataCategory
        ],
        "window_days": ", ".join(map(str, taxonomy.CONSENT_WINDOW_DAYS)),
        "deletion_notice_days": settings.DELETION_NOTICE_DAYS,
    }
    return render(request, "accounts/privacy.html", context)
