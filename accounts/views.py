"""The seller web UI. Thin views: forms check the input, services write, selectors read.

Every page is for sellers only (`seller_required`). Every write is a POST; a `ServiceError`
becomes a form error (status 200) or, for per-grant actions, an error on the page with the
error's status, and nothing is stored.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import Any

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
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import hooks, selectors, services, taxonomy
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
from accounts.models import ConsentEvent, ConsentGrant, User
from core.errors import ServiceError
from core.money import format_money

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
    "listings": gettext_lazy("Listings"),
    "sales": gettext_lazy("Sales"),
    "recipients": gettext_lazy("Who received your data"),
    "access_log": gettext_lazy("Reads of your data"),
    "deletion_notices": gettext_lazy("Deletion notices to buyers"),
    "earnings": gettext_lazy("Earnings"),
    "sale_shares": gettext_lazy("Sale proceeds"),
    "payouts": gettext_lazy("Payouts"),
    "payout_account": gettext_lazy("Payout account"),
}

# Human labels of the export's field names (the JSON keeps the names).
EXPORT_FIELD_LABELS = {
    "id": gettext_lazy("Number"),
    "email": gettext_lazy("Email"),
    "full_name": gettext_lazy("Name"),
    "role": gettext_lazy("Role"),
    "pseudonym": gettext_lazy("Pseudonym"),
    "preferred_language": gettext_lazy("Language"),
    "email_verified_at": gettext_lazy("Email verified on"),
    "phone_verified_at": gettext_lazy("Phone verified on"),
    "erased_at": gettext_lazy("Erased on"),
    "is_active": gettext_lazy("Active"),
    "date_joined": gettext_lazy("Joined on"),
    "last_login": gettext_lazy("Last login"),
    "password": gettext_lazy("Password"),
    "email_verified": gettext_lazy("Email verified"),
    "phone_verified": gettext_lazy("Phone verified"),
    "profile_complete": gettext_lazy("Profile complete"),
    "verified_seller": gettext_lazy("Verified seller"),
    "age_band": gettext_lazy("Age band"),
    "gender": gettext_lazy("Gender"),
    "region": gettext_lazy("Region"),
    "mobile_os": gettext_lazy("Mobile OS"),
    "mobile_operator": gettext_lazy("Mobile operator"),
    "interests": gettext_lazy("Interests"),
    "affinities": gettext_lazy("Content affinities"),
    "audience_optin": gettext_lazy("Offered to audience bundles"),
    "sellable": gettext_lazy("Offered to buyers"),
    "sellable_until": gettext_lazy("Offered until"),
    "birth_date": gettext_lazy("Birth date"),
    "postcode": gettext_lazy("Postcode"),
    "phone": gettext_lazy("Phone"),
    "updated_at": gettext_lazy("Updated on"),
    "kind": gettext_lazy("Kind"),
    "details": gettext_lazy("Details"),
    "created_at": gettext_lazy("Date"),
    "category": gettext_lazy("Category"),
    "categories": gettext_lazy("Categories"),
    "purpose": gettext_lazy("Purpose"),
    "purposes": gettext_lazy("Purposes"),
    "tcf_purpose_id": gettext_lazy("IAB TCF purpose"),
    "window_days": gettext_lazy("Window (days)"),
    "granted_at": gettext_lazy("Granted on"),
    "expires_at": gettext_lazy("Expires on"),
    "ended_at": gettext_lazy("Ended on"),
    "status": gettext_lazy("Status"),
    "renewed_from": gettext_lazy("Renews consent"),
    "reminder_sent_at": gettext_lazy("Reminder sent on"),
    "grant": gettext_lazy("Consent"),
    "occurred_at": gettext_lazy("Date"),
    "receipt_id": gettext_lazy("Receipt"),
    "licence_days": gettext_lazy("Licence (days)"),
    "pricing_mode": gettext_lazy("Sale type"),
    "floor_price_cents": gettext_lazy("Floor price"),
    "suggested_price_cents": gettext_lazy("Suggested price"),
    "currency": gettext_lazy("Currency"),
    "auction_ends_at": gettext_lazy("Auction ends on"),
    "status_reason": gettext_lazy("Reason"),
    "history": gettext_lazy("History"),
    "trade": gettext_lazy("Trade"),
    "buyer": gettext_lazy("Buyer"),
    "price_cents": gettext_lazy("Price"),
    "trade_status": gettext_lazy("Trade status"),
    "access_grant": gettext_lazy("Licence"),
    "organisation": gettext_lazy("Organisation"),
    "organisation_country": gettext_lazy("Country"),
    "starts_at": gettext_lazy("From"),
    "ends_at": gettext_lazy("Until"),
    "revoked_at": gettext_lazy("Revoked on"),
    "revoked_reason": gettext_lazy("Why revoked"),
    "read_at": gettext_lazy("Read on"),
    "deletion_notice": gettext_lazy("Notice"),
    "reason": gettext_lazy("Reason"),
    "deadline": gettext_lazy("Delete by"),
    "acknowledged_at": gettext_lazy("Deletion confirmed on"),
    "account": gettext_lazy("Account"),
    "reference": gettext_lazy("Reference"),
    "amount_cents": gettext_lazy("Amount"),
    "amount_reversed_cents": gettext_lazy("Amount reversed"),
    "gross_cents": gettext_lazy("Sale price"),
    "fee_cents": gettext_lazy("Platform fee"),
    "net_cents": gettext_lazy("Your share"),
    "failure_code": gettext_lazy("Failure"),
    "transferred_at": gettext_lazy("Sent on"),
    "created": gettext_lazy("Opened at Stripe"),
    "details_submitted": gettext_lazy("Details submitted"),
    "payouts_enabled": gettext_lazy("Payouts enabled"),
    "outstanding_requirements": gettext_lazy("Still required"),
}

# Codes shown as their labels: the taxonomy's and accounts' own choices; other apps' sections
# bring theirs in a `choices` attribute (accounts cannot import them).
_ACCOUNTS_CHOICES: dict[str, dict] = {
    "category": dict(taxonomy.DataCategory.choices),
    "categories": dict(taxonomy.DataCategory.choices),
    "audience_optin": dict(taxonomy.DataCategory.choices),
    "purpose": dict(taxonomy.Purpose.choices),
    "purposes": dict(taxonomy.Purpose.choices),
    "gender": dict(taxonomy.Gender.choices),
    "region": dict(taxonomy.Region.choices),
    "mobile_os": dict(taxonomy.MobileOS.choices),
    "mobile_operator": dict(taxonomy.MobileOperator.choices),
    "interests": dict(taxonomy.INTERESTS),
    "affinities": dict(taxonomy.AFFINITIES),
    "role": dict(User.Role.choices),
    "preferred_language": dict(settings.LANGUAGES),
}
_SECTION_CHOICES: dict[str, dict[str, dict]] = {
    "life_events": {"kind": dict(taxonomy.LifeEventKind.choices)},
    "consent_grants": {"status": dict(ConsentGrant.Status.choices)},
    "consent_events": {"kind": dict(ConsentEvent.Kind.choices)},
}
_DATE_FIELDS = frozenset({"birth_date", "date_joined", "last_login", "deadline", "sellable_until"})
_HIDDEN_FIELDS = frozenset({"receipt"})


def _display_value(name: str, value: Any, row: dict, choices: dict[str, dict]) -> Any:
    """One exported value as a person reads it: labels for codes, local dates, money."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if name == "password":
        return _("Set (a credential: not exported)")
    if name == "sellable":
        labels = (choices["categories"], choices["purposes"])
        return ", ".join(
            f"{labels[0].get(c, c)} — {labels[1].get(p, p)}"
            for c, p in (pair.split(":", 1) for pair in value)
        )
    if name == "history":
        return "; ".join(
            f"{choices.get('to_status', {}).get(step['to_status'], step['to_status'])} "
            f"({_display_value('occurred_at', step['occurred_at'], step, choices)})"
            for step in value
        )
    if name.endswith("_cents") and isinstance(value, int):
        return format_money(value, row.get("currency") or "EUR")
    if name in choices:
        labels = choices[name]
        if isinstance(value, list):
            return ", ".join(str(labels.get(item, item)) for item in value)
        return labels.get(value, value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, str) and (name.endswith("_at") or name in _DATE_FIELDS):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if len(value) == 10:  # a date
            return formats.date_format(moment.date(), "DATE_FORMAT")
        return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return value


def _label(name: str) -> str:
    return str(EXPORT_FIELD_LABELS.get(name, name.replace("_", " ").capitalize()))


def _export_sections(data: dict) -> list[dict]:
    """Shape the export for people, in their language: a titled section per topic; a dict becomes
    rows, a list of dicts a table; field names become labels, codes the taxonomy's labels,
    timestamps local dates, minor units money."""
    sections = []
    registered = hooks.export_sections()
    for key, value in data.items():
        if key in ("format", "generated_at"):
            continue
        choices = {
            **_ACCOUNTS_CHOICES,
            **_SECTION_CHOICES.get(key, {}),
            **getattr(registered.get(key), "choices", {}),
        }
        section: dict[str, Any] = {"key": key, "title": EXPORT_SECTION_TITLES.get(key, _label(key))}
        if isinstance(value, dict):
            section["rows"] = [
                (_label(k), _display_value(k, v, value, choices))
                for k, v in value.items()
                if k not in _HIDDEN_FIELDS
            ]
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            names = [
                c for c in (value[0].keys() if value else []) if c not in _HIDDEN_FIELDS and c != "currency"
            ]
            section["columns"] = [_label(c) for c in names]
            section["table"] = [
                [_display_value(c, item.get(c), item, choices) for c in names] for item in value
            ]
        elif value is not None:
            section["json"] = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        sections.append(section)
    return sections


def _export_unavailable(request, exc: ServiceError):
    return render(
        request, "accounts/my_data.html", {"error": exc.message, "sections": []}, status=exc.status_code
    )


@require_GET
@seller_required
def my_data(request):
    try:
        data = selectors.seller_export(seller=request.user)
    except ServiceError as exc:
        return _export_unavailable(request, exc)
    context = {
        "sections": _export_sections(data),
        "generated_at": datetime.fromisoformat(data["generated_at"]),
    }
    return render(request, "accounts/my_data.html", context)


@require_GET
@seller_required
def my_data_export(request):
    """The same content as machine-readable JSON: codes and ISO 8601 timestamps (Art. 20)."""
    try:
        data = selectors.seller_export(seller=request.user)
    except ServiceError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.message}, status=exc.status_code)
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
