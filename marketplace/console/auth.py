"""Signing up an advertiser, logging in to the console, joining through an invitation."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.mail import send_mail
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.forms import EmailAuthenticationForm
from accounts.models import BuyerOrganisation
from core.errors import ServiceError
from marketplace.console.forms import (
    AdvertiserSignupForm,
    InvitationAcceptForm,
    add_console_error,
    console_error_message,
)


def _site_link(name: str, *args: str) -> str:
    # SITE_URL, not the request's Host header: an emailed link must not point elsewhere.
    return settings.SITE_URL.rstrip("/") + reverse(name, args=args)


def send_contact_email_link(organisation: BuyerOrganisation) -> None:
    token = services.organisation_contact_email_token(organisation)
    context = {"organisation": organisation, "link": _site_link("console-contact-email-verify", token)}
    subject = render_to_string("console/email/contact_verification_subject.txt", context).strip()
    body = render_to_string("console/email/contact_verification.txt", context)
    send_mail(subject, body, None, [organisation.contact_email])


def send_invitation(*, email: str, token: str, organisation: BuyerOrganisation, invited_by) -> None:
    context = {
        "organisation": organisation,
        "invited_by": invited_by,
        "link": _site_link("console-invitation", token),
    }
    subject = render_to_string("console/email/invitation_subject.txt", context).strip()
    body = render_to_string("console/email/invitation.txt", context)
    send_mail(subject, body, None, [email])


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated and request.user.organisation_id:
        return redirect("console-dashboard")
    form = AdvertiserSignupForm(request.POST or None, initial={"language": translation.get_language()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.organisation_signup(
                email=data["email"],
                password=data["password1"],
                full_name=data["full_name"],
                language=data["language"],
                legal_name=data["legal_name"],
                registration_number=data["registration_number"],
                country=data["country"],
                website=data["website"],
                contact_name=data["contact_name"],
                contact_email=data["contact_email"],
                contact_phone=data["contact_phone"],
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            translation.activate(user.preferred_language)
            send_contact_email_link(user.organisation)
            messages.success(
                request,
                _("Welcome. We sent a link to %(email)s to verify your contact email.")
                % {"email": user.organisation.contact_email},
            )
            response = redirect("console-dashboard")
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.preferred_language, samesite="Lax")
            return response
    return render(request, "console/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """The seller login form, landing on the console."""

    authentication_form = EmailAuthenticationForm
    template_name = "console/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("console-dashboard")


@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    try:
        invited = services.organisation_invitation_read(token=token)
    except ServiceError as exc:
        return render(request, "console/invitation.html", {"error": console_error_message(exc)}, status=400)
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.organisation_invitation_accept(
                token=token,
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
                language=translation.get_language() or "en",
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request, _("Welcome to %(name)s.") % {"name": invited["organisation"].legal_name}
            )
            return redirect("console-dashboard")
    return render(request, "console/invitation.html", {"form": form, "invited": invited})
