"""Sign up, log in, log out; the seller's language follows them in."""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render, resolve_url
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.forms import (
    EmailAuthenticationForm,
    ResetPasswordForm,
    SignupForm,
    add_service_error,
)
from accounts.models import User
from core.errors import ServiceError


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
            services.email_verification_send(user=user)
            messages.success(request, _("Welcome to Courtier. Start by completing your profile."))
            messages.info(
                request,
                _("We sent a link to %(email)s. Open it to verify your email.") % {"email": user.email},
            )
            return _set_language_cookie(redirect("seller-profile"), user.preferred_language)
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login view with the email form; the seller's language follows them in."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        # buyer members work in the advertiser console (marketplace.console), not the seller pages
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated and user.role == User.Role.BUYER:
            return resolve_url("console-dashboard")
        return super().get_default_redirect_url()

    def form_valid(self, form):
        response = super().form_valid(form)
        return _set_language_cookie(response, form.get_user().preferred_language)


class LogoutView(auth_views.LogoutView):
    pass


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for the email and always answers "if an account exists, we sent a link": nothing
    tells whether the address has an account. The link is built on SITE_URL, never on the
    request's Host header, and the email is sent through the configured EMAIL_BACKEND."""

    form_class = ResetPasswordForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def get_extra_email_context(self) -> dict:
        return {"site_url": settings.SITE_URL.rstrip("/")}

    def form_valid(self, form):
        self.extra_email_context = self.get_extra_email_context()
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        # a new password ends the lock-out for this account (django-axes), from every address
        axes_reset(username=form.user.get_username())
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
