"""Web forms for the seller's listings. They parse and check shapes; the services validate and write.

Prices are typed in euros and leave the form as integer cents, through `Decimal`, never a float.
A service's `ServiceError` becomes a form error with `add_service_error`.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts import taxonomy
from accounts.forms import Form, WindowField, service_error_message
from core.errors import ServiceError
from listings.models import Listing
from listings.services import MAX_FLOOR_PRICE_CENTS

# The listings services speak English; the seller reads these instead, where we know the code.
# Codes not listed here fall back to the accounts UI's messages, then to the service's words.
SERVICE_ERROR_MESSAGES = {
    "categories_required": _("Choose at least one data category."),
    "purposes_required": _("Allow at least one purpose."),
    "licence_invalid": _("A licence lasts 30, 90 or 365 days."),
    "pricing_mode_unknown": _("Choose a fixed price or an auction."),
    "price_invalid": _("Enter an amount in euros, such as 12.50."),
    "price_out_of_range": _("The floor price must be between €0.01 and €100,000."),
    "auction_end_invalid": _("An auction ends between one hour and 30 days from now."),
    "auction_end_not_allowed": _("Only auctions have an end time."),
    "transition_not_allowed": _("This listing cannot make that change in its current status."),
    "listing_closed": _("This listing is closed and can no longer be changed."),
    "action_not_allowed": _("Sellers can pause, resume, resubmit or withdraw a listing."),
    "explicit_consent_required": _(
        "Life events are sensitive: tick the box that confirms you offer them to audience bundles."
    ),
}

# Where a service names a field by its model name, the form calls it differently.
FORM_FIELD_FOR = {"floor_price_cents": "floor_price"}


def listing_error_message(exc: ServiceError) -> str:
    if exc.code in SERVICE_ERROR_MESSAGES:
        return str(SERVICE_ERROR_MESSAGES[exc.code])
    return service_error_message(exc)


def add_service_error(form: forms.Form, exc: ServiceError, message: str | None = None) -> None:
    """Attach a service error to its field when the form has it, else to the whole form."""
    field = FORM_FIELD_FOR.get(exc.field or "", exc.field)
    form.add_error(field if field in form.fields else None, message or listing_error_message(exc))


# ---------------------------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------------------------

CENT = Decimal("0.01")
# Digits, then at most one decimal separator (a dot, or a comma as French sellers write it).
_AMOUNT = re.compile(r"(?P<whole>\d+)(?:[.,](?P<fraction>\d*))?")
# Spaces and thousands separators as typed or pasted (narrow no-break space in French), and €.
_IGNORED = re.compile(r"[\s\u00a0\u202f€]")
_MAX_TYPED = 20


class EuroAmountField(forms.CharField):
    """An amount typed in euros ("12", "12.5", "12,50", "1 200 €") cleaned to integer cents.

    More than two decimals is an error, not a rounding: "1,000" is a thousand for some and one
    euro for others, so it is refused rather than guessed.
    """

    default_error_messages = {
        "invalid": _("Enter an amount in euros, such as 12.50."),
        "negative": _("The price must be more than zero."),
        "decimals": _("Use at most two decimals (cents)."),
        "min_value": _("The price must be at least €0.01."),
        "max_value": _("The price cannot exceed €100,000."),
    }

    def __init__(self, *, max_cents: int = MAX_FLOOR_PRICE_CENTS, **kwargs):
        self.max_cents = max_cents
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "maxlength": str(_MAX_TYPED)}

    def to_python(self, value) -> int | None:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        typed = _IGNORED.sub("", value)
        if typed.startswith("-"):
            raise forms.ValidationError(self.error_messages["negative"], code="negative")
        match = _AMOUNT.fullmatch(typed)
        if len(typed) > _MAX_TYPED or match is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        fraction = match["fraction"] or ""
        if len(fraction) > 2:
            raise forms.ValidationError(self.error_messages["decimals"], code="decimals")
        euros = Decimal(f"{match['whole']}.{fraction or '0'}").quantize(CENT)
        cents = int(euros * 100)
        if cents < 1:
            raise forms.ValidationError(self.error_messages["min_value"], code="min_value")
        if cents > self.max_cents:
            raise forms.ValidationError(self.error_messages["max_value"], code="max_value")
        return cents


def euros_for_input(cents: int) -> str:
    """Cents as the euros a price input shows back ("12.50"); the field reads a comma too."""
    return str((Decimal(cents) / 100).quantize(CENT))


# ---------------------------------------------------------------------------------------------
# Listings
# ---------------------------------------------------------------------------------------------


def _licence_choices() -> list[tuple[int, str]]:
    return [(days, _("%(days)s days") % {"days": days}) for days in taxonomy.LICENCE_DAYS]


class LicenceField(forms.TypedChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.RadioSelect(attrs={"class": "checks"}))
        super().__init__(
            label=_("Licence length"), choices=_licence_choices, coerce=int, initial=30, **kwargs
        )


class ListingCreateForm(Form):
    categories = forms.MultipleChoiceField(
        label=_("Data categories"),
        choices=taxonomy.DataCategory.choices,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        error_messages={"required": _("Choose at least one data category.")},
        help_text=_("Several categories are sold together, as one bundle."),
    )
    purposes = forms.MultipleChoiceField(
        label=_("Allowed purposes"),
        choices=taxonomy.Purpose.choices,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        error_messages={"required": _("Allow at least one purpose.")},
        help_text=_("You need an active consent for every category × purpose you tick."),
    )
    licence_days = LicenceField(
        help_text=_("How long a buyer may use your data. Longer licences are worth more.")
    )
    pricing_mode = forms.ChoiceField(
        label=_("How to sell"),
        choices=Listing.PricingMode.choices,
        initial=Listing.PricingMode.FIXED,
        widget=forms.RadioSelect(attrs={"class": "checks"}),
    )
    auction_ends_at = forms.DateTimeField(
        label=_("Auction ends at"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Auctions only: between one hour and 30 days from now."),
    )
    floor_price = EuroAmountField(
        label=_("Floor price (€)"),
        help_text=_("Fixed price: what a buyer pays for one licence. Auction: the lowest bid you accept."),
    )

    def clean(self):
        data = super().clean()
        if data.get("pricing_mode") == Listing.PricingMode.AUCTION:
            if data.get("auction_ends_at") is None and "auction_ends_at" not in self.errors:
                self.add_error("auction_ends_at", _("An auction needs an end date and time."))
        else:
            # The field may still hold a value typed before switching to a fixed price.
            data["auction_ends_at"] = None
        return data


class ListingPriceForm(Form):
    floor_price = EuroAmountField(label=_("New floor price (€)"))


class AudienceOptinForm(Form):
    categories = forms.MultipleChoiceField(
        label=_("Categories you offer to audience bundles"),
        choices=taxonomy.DataCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        help_text=_("Only sold for the purposes you consent to. Untick them all to leave audience bundles."),
    )
    explicit_sensitive = forms.BooleanField(
        label=_("I explicitly offer my life events (sensitive data) to audience bundles."),
        help_text=_("Needed only if you tick “Life events”."),
        required=False,
    )


class WorthSimulatorForm(Form):
    """What is my data worth: the simulator's choices. Every field has a default, so a bad value
    is shown as an error and the estimate uses the default meanwhile."""

    categories = forms.MultipleChoiceField(
        label=_("Data categories"),
        choices=taxonomy.DataCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        help_text=_("None ticked: all of them."),
    )
    purposes = forms.MultipleChoiceField(
        label=_("Allowed purposes"),
        choices=taxonomy.Purpose.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        help_text=_("None ticked: a purpose of average value."),
    )
    licence_days = LicenceField(widget=forms.Select)
    consent_window_days = WindowField(widget=forms.Select)

    DEFAULTS = {"categories": [], "purposes": [], "licence_days": 30, "consent_window_days": 365}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        window = self.fields["consent_window_days"]
        window.label, window.initial = _("Consent window"), 365
        window.help_text = _("You sell only while your consent is valid.")
        for name in ("licence_days", "consent_window_days"):  # missing: the default
            self.fields[name].required = False

    def choices(self) -> dict:
        """The cleaned choices, with the default in place of each field in error."""
        if not self.is_bound:
            return dict(self.DEFAULTS)
        self.is_valid()
        return {name: self.cleaned_data.get(name) or default for name, default in self.DEFAULTS.items()}
