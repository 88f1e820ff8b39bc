"""Web forms for the seller UI. They parse and check shapes; the services validate and write.

A service's `ServiceError` becomes a form error with `add_service_error`, so the seller sees it
next to the field at fault and nothing is stored.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from django_otp import match_token, user_has_device

from accounts import taxonomy
from core.errors import ServiceError

# Services speak English; the seller reads these instead, in their language, where we know the code.
SERVICE_ERROR_MESSAGES = {
    "email_taken": _("An account with this email already exists."),
    "value_unknown": _("Select a valid choice."),
    "birth_date_invalid": _("Enter a real birth date."),
    "under_age": _("Sellers must be 18 or older."),
    "postcode_invalid": _("A French postcode has five digits."),
    "phone_invalid": _("Use an international number such as +33612345678."),
    "phone_missing": _("Add a phone number first."),
    "code_invalid": _("This code is wrong or expired."),
    "token_invalid": _("This verification link is invalid or expired."),
    "details_too_long": _("Keep details under 1,000 characters."),
    "category_unknown": _("This is not a data category."),
    "purpose_unknown": _("This is not a purpose."),
    "window_invalid": _("Choose a window of 30, 90, 180 or 365 days."),
    "explicit_consent_required": _("Life events are sensitive: tick the box that confirms this consent."),
    "consent_already_active": _(
        "Consent for this category and purpose is already active: renew or revoke it."
    ),
    "consent_already_revoked": _("This consent was already revoked."),
    "consent_expired": _("This consent has expired: grant it again."),
    "not_a_seller": _("Only an active seller can do this."),
    "already_erased": _("This account was already erased."),
}
# One code, `not_found`, for every missing object (core.problems): the service's words name it.
NOT_FOUND_MESSAGES = {
    "No such life event.": _("No such life event."),
    "No such consent.": _("No such consent."),
    "No such session.": _("No such session."),
    "No such listing.": _("No such listing."),
    "No such member.": _("No such member."),
    "No such API key.": _("No such API key."),
    "No such organisation.": _("No such organisation."),
}


def service_error_message(exc: ServiceError) -> str:
    if exc.code == "not_found":
        return str(NOT_FOUND_MESSAGES.get(exc.message, exc.message))
    return str(SERVICE_ERROR_MESSAGES.get(exc.code, exc.message))


def add_service_error(form: forms.Form, exc: ServiceError) -> None:
    """Attach a service error to its field when the form has it, else to the whole form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, service_error_message(exc))


class Form(forms.Form):
    """Labels without a trailing colon: they read better above the fields, in both languages."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _blank(choices) -> list[tuple[str, str]]:
    return [("", "—"), *choices]


class PasswordsForm(Form):
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords differ."))
        elif password1:
            try:
                password_validation.validate_password(password1)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class SignupForm(PasswordsForm):
    field_order = ["email", "password1", "password2", "full_name", "language"]

    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    full_name = forms.CharField(
        label=_("Name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class LockoutMessageMixin:
    """A login form whose (user, IP) django-axes has locked out says so, instead of "wrong
    password" (the backend refused before checking it; accounts.lockout answers 429)."""

    request: object

    def get_invalid_login_error(self):
        if getattr(self.request, "axes_locked_out", False):
            from accounts.lockout import lockout_message

            return forms.ValidationError(lockout_message(), code="locked_out")
        return super().get_invalid_login_error()  # type: ignore[misc]


class EmailAuthenticationForm(LockoutMessageMixin, AuthenticationForm):
    """Django's login form; its `username` field is the email (User.USERNAME_FIELD)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Email")
        self.fields["username"].widget = forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})


class AdminLoginForm(LockoutMessageMixin, AdminAuthenticationForm):
    """The admin's login form (accounts.admin sets it on the site): email, password and the
    second factor's code, from the authenticator app or one of the recovery codes.

    A staff member with no device yet signs in with the password alone; the admin site then sends
    them to set one up (core.admin_site). A wrong code counts as a failed login for django-axes,
    so guessing codes locks the account out like guessing passwords. The device that accepted
    the code marks the session verified (django_otp's user_logged_in receiver reads
    `user.otp_device`)."""

    otp_token = forms.CharField(
        label=_("Code"),
        required=False,
        max_length=16,
        help_text=_("The 6-digit code of your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_required": _("Enter the code of your authenticator app or a recovery code."),
        "otp_invalid": _("This code is wrong or was already used."),
    }

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not user_has_device(user, confirmed=True):
            return cleaned
        token = "".join((cleaned.get("otp_token") or "").split()).lower()
        if not token:
            raise forms.ValidationError(self.error_messages["otp_required"], code="otp_required")
        device = match_token(user, token)
        if device is None:
            user_login_failed.send(
                sender=__name__,
                credentials={"username": cleaned.get("username")},
                request=self.request,
            )
            raise forms.ValidationError(self.error_messages["otp_invalid"], code="otp_invalid")
        user.otp_device = device
        return cleaned


class ResetPasswordForm(PasswordResetForm):
    """Django's form: it emails only an active account with a password, and the page after it
    says the same whether or not the address has one (no account enumeration)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["email"].label = _("Email")


class ProfileForm(Form):
    gender = forms.ChoiceField(label=_("Gender"), choices=_blank(taxonomy.Gender.choices), required=False)
    region = forms.ChoiceField(label=_("Region"), choices=_blank(taxonomy.Region.choices), required=False)
    mobile_os = forms.ChoiceField(
        label=_("Mobile OS"), choices=_blank(taxonomy.MobileOS.choices), required=False
    )
    mobile_operator = forms.ChoiceField(
        label=_("Mobile operator"), choices=_blank(taxonomy.MobileOperator.choices), required=False
    )
    interests = forms.MultipleChoiceField(
        label=_("Interests"),
        choices=taxonomy.INTERESTS,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
    )
    affinities = forms.MultipleChoiceField(
        label=_("Content affinities"),
        choices=taxonomy.AFFINITIES,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
        help_text=_("Buyers only see your age band. You must be 18 or older."),
    )
    postcode = forms.CharField(
        label=_("Postcode"),
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        help_text=_("For example +33612345678 or 06 12 34 56 78. Changing it asks you to verify it again."),
    )


class PhoneCodeForm(Form):
    code = forms.CharField(
        label=_("Code received by SMS"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class LifeEventForm(Form):
    kind = forms.ChoiceField(label=_("Life event"), choices=taxonomy.LifeEventKind.choices)
    details = forms.CharField(
        label=_("Details (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Stored encrypted. Adding an event you already have replaces its details."),
    )


def _window_choices() -> list[tuple[int, str]]:
    return [(days, _("%(days)s days") % {"days": days}) for days in taxonomy.CONSENT_WINDOW_DAYS]


class WindowField(forms.TypedChoiceField):
    def __init__(self, **kwargs):
        super().__init__(label=_("For how long"), choices=_window_choices, coerce=int, initial=90, **kwargs)


class ConsentGrantForm(Form):
    category = forms.ChoiceField(label=_("Data category"), choices=taxonomy.DataCategory.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=taxonomy.Purpose.choices)
    window_days = WindowField()
    explicit_sensitive = forms.BooleanField(
        label=_("I explicitly consent to the use of my life events (sensitive data) for this purpose."),
        help_text=_("Needed only for the category “Life events”, which is sensitive."),
        required=False,
    )


class ConsentRenewForm(Form):
    window_days = WindowField()


class EraseForm(Form):
    email = forms.EmailField(
        label=_("Type your email to confirm"), widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_email(self):
        email = self.cleaned_data["email"]
        if email.strip().lower() != self.user.email.lower():
            raise forms.ValidationError(_("This is not your account's email."))
        return email
