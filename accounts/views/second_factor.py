"""Setting up the admin's second factor (issue 14). A staff member who signed in with their
password but has no device yet lands here (core.admin_site sends them): the page shows a QR
code (an inline SVG, nothing fetched elsewhere) and the secret for typing in, asks a code to
confirm, then shows ten recovery codes, once. It is outside the admin's permission check, which
refuses a session without a second factor."""

from __future__ import annotations

from base64 import b32encode

import segno
from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp import user_has_device

from accounts.forms import Form
from accounts.services import second_factor


class ConfirmCodeForm(Form):
    code = forms.CharField(
        label=_("Code shown by the app"),
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """An admin-looking page for someone the admin does not let in yet (no app list)."""
    return render(request, template, {**admin.site.each_context(request), "available_apps": [], **context})


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required(login_url="admin:login")
def enrol(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_staff:
        raise PermissionDenied
    following = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(following, allowed_hosts={request.get_host()}):
        following = ""
    if user_has_device(user, confirmed=True):
        return redirect(following or "admin:index")  # the login form asks its code
    device = second_factor.totp_device_pending(user=user)
    form = ConfirmCodeForm(request.POST or None)
    if form.is_valid():
        codes = second_factor.totp_device_confirm(user=user, device=device, token=form.cleaned_data["code"])
        if codes is not None:
            otp_login(request, device)
            return _page(
                request,
                "admin/second_factor_codes.html",
                {"codes": codes, "next": following, "title": _("Your recovery codes")},
            )
        form.add_error("code", _("This code is wrong or expired: enter the one the app shows now."))
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return _page(
        request,
        "admin/second_factor_enrol.html",
        {
            "form": form,
            "qr_svg": mark_safe(qr),  # segno's SVG of our own otpauth:// URL
            "secret": _grouped(b32encode(device.bin_key).decode()),
            "next": following,
            "title": _("Set up your second factor"),
        },
    )
