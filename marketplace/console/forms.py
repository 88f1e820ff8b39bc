"""Forms of the advertiser console: they parse shapes; the services validate and write."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.forms import SERVICE_ERROR_MESSAGES, Form, PasswordsForm
from accounts.models import ApiScope, User
from core.errors import ServiceError
from marketplace.models_webhooks import ALL_EVENT_TYPES, WebhookEventType

CONSOLE_ERROR_MESSAGES = {
    **SERVICE_ERROR_MESSAGES,
    "phone_invalid": _("Use an international number such as +33612345678."),
    "country_invalid": _("Use a two-letter country code such as FR."),
    "organisation_exists": _("An organisation with this registration number already exists in this country."),
    "verification_incomplete": _("Complete the missing details and checks first."),
    "transition_not_allowed": _("Your organisation cannot ask for verification in its current status."),
    "invitation_invalid": _("This invitation is invalid or expired."),
    "owner_required": _("Only an owner can do this."),
    "last_owner": _("An organisation keeps at least one owner."),
    "role_unknown": _("Choose owner, developer or finance."),
    "scope_invalid": _("Choose at least one scope."),
    "name_required": _("Name the key."),
    "api_key_already_revoked": _("This API key is already revoked."),
    "api_key_not_usable": _("This API key is revoked or expired: create a new one."),
    "setup_intent_unknown": _("The card could not be saved: start again."),
    "setup_intent_not_succeeded": _("The card was not confirmed: start again."),
    "card_declined": _("Your card was declined."),
    "stripe_unavailable": _("Our payment provider did not answer: try again in a moment."),
    "webhook_url_forbidden": _(
        "This URL cannot receive webhooks: use an https URL whose host resolves to public addresses "
        "only (not private, loopback or link-local ones)."
    ),
    "webhook_url_invalid": _("Enter an http or https URL of at most 2000 characters."),
    "webhook_event_types_invalid": _("Choose at least one event type, or all of them."),
    "webhook_endpoint_limit": _(
        "Your organisation has as many webhook endpoints as allowed: delete one first."
    ),
    "webhook_endpoint_disabled": _("This endpoint is disabled: enable it first."),
}


def console_error_message(exc: ServiceError) -> str:
    return str(CONSOLE_ERROR_MESSAGES.get(exc.code, exc.message))


def add_console_error(form: forms.Form, exc: ServiceError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, console_error_message(exc))


class AdvertiserSignupForm(PasswordsForm):
    field_order = ["email", "password1", "password2", "full_name"]

    email = forms.EmailField(label=_("Your email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    full_name = forms.CharField(
        label=_("Your name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    legal_name = forms.CharField(
        label=_("Legal name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "organization"})
    )
    registration_number = forms.CharField(
        label=_("Registration number"), max_length=64, help_text=_("SIREN, VAT or company number")
    )
    country = forms.CharField(
        label=_("Country"),
        min_length=2,
        max_length=2,
        help_text=_("Two letters, e.g. FR"),
        widget=forms.TextInput(attrs={"autocomplete": "country"}),
    )
    website = forms.URLField(label=_("Website"), assume_scheme="https")
    contact_name = forms.CharField(label=_("Contact name"), max_length=200)
    contact_email = forms.EmailField(label=_("Contact email"), help_text=_("We send a link to verify it."))
    contact_phone = forms.CharField(
        label=_("Contact phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        help_text=_("For example +33612345678. We send a code by SMS to verify it."),
    )


class InvitationAcceptForm(PasswordsForm):
    field_order = ["full_name", "password1", "password2"]

    full_name = forms.CharField(
        label=_("Your name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )


class InviteForm(Form):
    email = forms.EmailField(label=_("Email of the new member"))
    role = forms.ChoiceField(label=_("Role"), choices=User.OrganisationRole.choices, initial="developer")


class RoleForm(Form):
    role = forms.ChoiceField(label=_("Role"), choices=User.OrganisationRole.choices)


class ApiKeyCreateForm(Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. production server"))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiScope.choices,
        initial=list(ApiScope.values),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        help_text=_("What the key may do. Give each integration only what it needs."),
    )


class CardForm(Form):
    setup_intent = forms.RegexField(r"^seti_\w{1,250}$", widget=forms.HiddenInput)


class WebhookEndpointForm(Form):
    """An endpoint's URL, description and event types; whether the URL may receive webhooks (its
    scheme, the addresses its host resolves to) is the service's check."""

    url = forms.RegexField(
        r"^https?://[!-~]+$",
        label=_("URL"),
        max_length=2000,
        error_messages={"invalid": _("Enter an http or https URL of at most 2000 characters.")},
        widget=forms.URLInput(attrs={"inputmode": "url", "placeholder": "https://"}),
        help_text=_("https; its host must resolve to public addresses only."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(ALL_EVENT_TYPES, _("All events, including those added later")), *WebhookEventType.choices],
        initial=[ALL_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        error_messages={"required": _("Choose at least one event type, or all of them.")},
    )
