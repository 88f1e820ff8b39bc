"""What is my data worth: the seller's simulator page and its partial.

The seller picks categories, purposes, a licence length and a consent window; the estimate per
record, its likely range and the yearly income follow, with the factors of listings.valuation
explained, and beside them what buyers paid in the last 30 days (settled trades). The form is
an ordinary GET form; htmx (static/vendor/htmx) asks for the partial on every change and swaps it
in, so the page works the same without JavaScript.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from accounts import selectors as account_selectors
from accounts import taxonomy
from accounts.views import seller_required
from core.money import format_money
from listings import valuation
from listings.forms import WorthSimulatorForm

CATEGORY_LABELS = dict(taxonomy.DataCategory.choices)
PURPOSE_LABELS = dict(taxonomy.Purpose.choices)
# What some apps and articles say personal data earns a person a year, in euro cents.
PUBLIC_CLAIM_CENTS = (150_000, 700_000)

SCARCITY_ATTRIBUTE_NAMES = {
    "age_band": gettext_lazy("age band"),
    "region": gettext_lazy("region"),
    "mobile_os": gettext_lazy("mobile OS"),
    "mobile_operator": gettext_lazy("mobile operator"),
}
SCARCITY_VALUE_LABELS = {
    "age_band": dict(taxonomy.AgeBand.choices),
    "region": dict(taxonomy.Region.choices),
    "mobile_os": dict(taxonomy.MobileOS.choices),
    "mobile_operator": dict(taxonomy.MobileOperator.choices),
}


def _euros(cents: int | None) -> str | None:
    return None if cents is None else format_money(cents, "EUR")


def _number(value: Decimal | str, decimals: int = 2) -> str:
    """A ratio as the locale writes it, without trailing zeros: "2.4" / "2,4", "0.5", "7"."""
    value = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals)).normalize()
    return formats.number_format(value, decimal_pos=max(0, -value.as_tuple().exponent))


def plural_count(value: Decimal) -> int:
    """An integer that takes the plural form `value` takes, for ngettext (which wants integers):
    a whole number is itself; a fraction below 2 is 0, plural in English ("0.5 licences") and
    singular in French ("0,5 licence", "1,5 licence"); from 2 both are plural."""
    if value == value.to_integral_value() or value >= 2:
        return int(value)
    return 0


def _scarcity_explained(category: str, profile, life_event_count: int) -> str:
    """The scarcity premium in the seller's language. The valuation explains it in English only
    (`scarcity_explained`); this reads the same cached shares it used."""
    if category in taxonomy.SENSITIVE_CATEGORIES:
        return ngettext(
            "You recorded %(count)s life event: the more you record, the more they are worth.",
            "You recorded %(count)s life events: the more you record, the more they are worth.",
            life_event_count,
        ) % {"count": life_event_count}
    attribute = valuation.SCARCITY_ATTRIBUTE.get(category)
    if attribute is None:
        return _("No scarcity is measured for this category.")
    value = getattr(profile, attribute, "")
    if not value:
        return _("Complete your profile to measure how rare your %(attribute)s is.") % {
            "attribute": SCARCITY_ATTRIBUTE_NAMES[attribute]
        }
    share = valuation.attribute_shares(attribute).get(value, 0.0)
    return _(
        "%(percent)s%% of sellers share your %(attribute)s (%(value)s): the rarer, the more it is worth."
    ) % {
        "percent": formats.number_format(round(share * 100)),
        "attribute": SCARCITY_ATTRIBUTE_NAMES[attribute],
        "value": SCARCITY_VALUE_LABELS[attribute].get(value, value),
    }


def _market_row(category: str, figures: dict) -> dict:
    trades = figures["trades"]
    return {
        "category": category,
        "label": CATEGORY_LABELS[category],
        "trades": trades,
        "trades_label": ngettext("%(count)s trade", "%(count)s trades", trades)
        % {"count": formats.number_format(trades, force_grouping=True)},
        "p25": _euros(figures["p25_cents"]),
        "median": _euros(figures["p50_cents"]),
        "p75": _euros(figures["p75_cents"]),
    }


def worth_context(request: HttpRequest, form: WorthSimulatorForm) -> dict:
    """Everything both the page and the partial show, for the form's choices."""
    seller = request.user
    choices = form.choices()
    categories = choices["categories"] or list(taxonomy.CATEGORY_CODES)
    purposes, licence_days = choices["purposes"], choices["licence_days"]
    window = choices["consent_window_days"]
    profile = seller.profile
    life_event_count = account_selectors.life_events_for(seller=seller).count()
    result = valuation.seller_valuation(
        seller=seller,
        categories=categories,
        licence_days=licence_days,
        purposes=purposes,
        consent_window_days=window,
        profile=profile,
        life_event_kinds=life_event_count,
    )
    rows = []
    for item in result["categories"]:
        factors = item["factors"]
        rows.append(
            {
                "category": item["category"],
                "label": CATEGORY_LABELS[item["category"]],
                "estimate": _euros(item["estimate_cents"]),
                "low": _euros(item["low_cents"]),
                "high": _euros(item["high_cents"]),
                "base_rate": _euros(valuation.BASE_RATE_CENTS[item["category"]]),
                "premium": _number(factors["scarcity_premium"]),
                "scarcity_explained": _scarcity_explained(item["category"], profile, life_event_count),
                "clearing": _euros(factors["median_clearing_price_cents_30d"]),
                "trades": factors["trades_in_30d"],
            }
        )
    market = valuation.market_prices(categories)
    total = result["total"]
    sell_through = Decimal(f"{settings.VALUATION_SELL_THROUGH:g}")
    selling_days = min(365, window)
    return {
        "form": form,
        "licence_days": licence_days,
        "rows": rows,
        "total": {
            "estimate": _euros(total["estimate_cents"]),
            "low": _euros(total["low_cents"]),
            "high": _euros(total["high_cents"]),
        },
        "yearly_income": _euros(result["yearly_income_cents"]),
        "yearly_income_cents": result["yearly_income_cents"],
        "licence_multiplier": _number(valuation.LICENCE_MULTIPLIER[licence_days]),
        "purpose_multiplier": _number(valuation.purpose_multiplier(purposes)),
        "purpose_labels": [PURPOSE_LABELS[p] for p in purposes],
        "purpose_factors": [
            {"label": PURPOSE_LABELS[p], "multiplier": _number(valuation.PURPOSE_MULTIPLIER[p])}
            for p in purposes
        ],
        "extra_purpose": _number(valuation.EXTRA_PURPOSE),
        "licences_per_year": _number(result["licences_per_year"]),
        "sell_through_label": ngettext(
            "%(count)s licence sold", "%(count)s licences sold", plural_count(sell_through)
        )
        % {"count": formats.number_format(sell_through)},
        "selling_days": selling_days,
        "selling_days_label": ngettext("%(count)s day", "%(count)s days", selling_days)
        % {"count": selling_days},
        "market": [_market_row(category, market[category]) for category in categories],
        "claim_low": format_money(PUBLIC_CLAIM_CENTS[0], "EUR", cents_shown=False),
        "claim_high": format_money(PUBLIC_CLAIM_CENTS[1], "EUR", cents_shown=False),
    }


def _form(request: HttpRequest) -> WorthSimulatorForm:
    return WorthSimulatorForm(request.GET if request.GET else None)


@require_GET
@seller_required
def worth(request: HttpRequest) -> HttpResponse:
    """The simulator page; submitting its form without JavaScript reloads it with the choices."""
    return render(request, "listings/worth.html", worth_context(request, _form(request)))


@require_GET
@seller_required
def worth_estimate(request: HttpRequest) -> HttpResponse:
    """The part of the page that follows the choices, for htmx to swap in, with the new figures
    for the page's status region (screen readers hear them, not the whole part)."""
    context = {**worth_context(request, _form(request)), "announce": True}
    return render(request, "listings/_worth_estimate.html", context)
