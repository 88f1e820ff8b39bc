"""Verifying the seller's email and phone. (The dashboard itself gathers figures from every app:
marketplace/views_seller.py.)"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import (
    PhoneCodeForm,
    add_service_error,
    service_error_message,
)
from accounts.views.access import seller_required
from core.errors import ServiceError

sms_logger = logging.getLogger("courtier.sms")


@require_GET
@seller_required
def verification(request):
    return render(request, "accounts/verification.html", _verification_context(request, PhoneCodeForm()))


def _verification_context(request, code_form: PhoneCodeForm) -> dict:
    # the number the code goes to, masked but for its last digits (accounts.selectors.mask_phone)
    phone = "" if request.user.phone_verified_at else selectors.seller_phone_masked(seller=request.user)
    return {"code_form": code_form, "phone_masked": phone}


@require_POST
@seller_required
def email_verification_send(request):
    services.email_verification_send(user=request.user)
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
    messages.success(
        request,
        _("We sent a code by SMS to %(phone)s.")
        % {"phone": selectors.seller_phone_masked(seller=request.user)},
    )
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
    return render(request, "accounts/verification.html", _verification_context(request, form))
