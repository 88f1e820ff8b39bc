"""The console's dashboard: the organisation's details, the checks of its contact email and
phone, its request for verification and the moderator's answer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import PhoneCodeForm
from core.errors import ServiceError
from marketplace.console.access import OWNER, console_required
from marketplace.console.auth import send_contact_email_link
from marketplace.console.forms import add_console_error, console_error_message

sms_logger = logging.getLogger("courtier.sms")

MISSING_LABELS = {
    "legal_name": gettext_lazy("Legal name"),
    "registration_number": gettext_lazy("Registration number"),
    "country": gettext_lazy("Country"),
    "website": gettext_lazy("Website"),
    "contact_name": gettext_lazy("Contact name"),
    "contact_email": gettext_lazy("Contact email"),
    "contact_phone": gettext_lazy("Contact phone"),
    "contact_email_unverified": gettext_lazy("Contact email not verified"),
    "contact_phone_unverified": gettext_lazy("Contact phone not verified"),
}


def _dashboard(request, *, code_form=None, request_error: str = "", status: int = 200):
    organisation = request.user.organisation
    missing = selectors.organisation_verification_missing(organisation)
    context = {
        "organisation": organisation,
        "missing": [MISSING_LABELS.get(code, code) for code in missing],
        "code_form": code_form or PhoneCodeForm(),
        "request_error": request_error,
        "is_owner": request.user.organisation_role == OWNER,
    }
    return render(request, "console/dashboard.html", context, status=status)


@require_GET
@console_required()
def dashboard(request):
    return _dashboard(request)


@require_POST
@console_required(OWNER)
def contact_email_send(request):
    send_contact_email_link(request.user.organisation)
    messages.success(
        request,
        _("We sent a link to %(email)s. Open it to verify the contact email.")
        % {"email": request.user.organisation.contact_email},
    )
    return redirect("console-dashboard")


@require_http_methods(["GET", "POST"])
def contact_email_verify(request, token: str):
    """GET shows a confirm button (mail scanners follow links); POST verifies."""
    if request.method == "POST":
        try:
            services.organisation_contact_email_verify(token=token)
        except ServiceError as exc:
            return render(
                request,
                "console/contact_email_verify.html",
                {"error": console_error_message(exc)},
                status=400,
            )
        messages.success(request, _("The contact email is verified."))
        return redirect("console-dashboard" if request.user.is_authenticated else "console-login")
    return render(request, "console/contact_email_verify.html", {"token": token})


@require_POST
@console_required(OWNER)
def contact_phone_send(request):
    organisation = request.user.organisation
    try:
        code = services.organisation_contact_phone_code(organisation=organisation)
    except ServiceError as exc:
        messages.error(request, console_error_message(exc))
        return redirect("console-dashboard")
    # No SMS gateway yet: the code goes to the log (and, in development, on screen).
    sms_logger.info("SMS to organisation %s: Courtier code %s", organisation.pk, code)
    messages.success(
        request, _("We sent a code by SMS to %(phone)s.") % {"phone": organisation.contact_phone}
    )
    if settings.DEBUG:
        messages.info(request, _("Development mode: the code is %(code)s.") % {"code": code})
    return redirect("console-dashboard")


@require_POST
@console_required(OWNER)
def contact_phone_verify(request):
    form = PhoneCodeForm(request.POST)
    if form.is_valid():
        try:
            services.organisation_contact_phone_verify(
                organisation=request.user.organisation, code=form.cleaned_data["code"]
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            messages.success(request, _("The contact phone is verified."))
            return redirect("console-dashboard")
    return _dashboard(request, code_form=form)


@require_POST
@console_required(OWNER)
def verification_request(request):
    try:
        services.organisation_request_verification(
            organisation_id=request.user.organisation_id, actor=request.user
        )
    except ServiceError as exc:
        return _dashboard(request, request_error=console_error_message(exc))
    messages.success(request, _("Verification requested. A moderator will review your organisation."))
    return redirect("console-dashboard")
