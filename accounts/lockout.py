"""What a locked-out login sees (django-axes, AXES_LOCKOUT_CALLABLE): the login page it posted to,
with the form's lock-out error (accounts.forms.LockoutMessageMixin), answered 429, never a 500."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The email a login attempt is for, as django-axes counts it: trimmed and lower-cased, like
    the stored emails (accounts.services.seller_create), so changing its case buys no attempts."""
    if credentials:
        value = credentials.get(settings.AXES_USERNAME_FORM_FIELD)
    else:
        value = getattr(request, "POST", {}).get(settings.AXES_USERNAME_FORM_FIELD)
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def cool_off_minutes() -> int:
    return max(int(settings.AXES_COOLOFF_TIME.total_seconds() // 60), 1)


def lockout_message() -> str:
    minutes = cool_off_minutes()
    return ngettext(
        "Too many failed attempts. For your security, logging in to this account from here is "
        "blocked for %(minutes)d minute. Try again later, or reset your password.",
        "Too many failed attempts. For your security, logging in to this account from here is "
        "blocked for %(minutes)d minutes. Try again later, or reset your password.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    content_type = original_response.get("Content-Type", "") if original_response is not None else ""
    if original_response is not None and original_response.status_code == 200 and "html" in content_type:
        original_response.status_code = 429  # the login form, showing lockout_message()
        return original_response
    return render(request, "registration/locked_out.html", {"message": lockout_message()}, status=429)
