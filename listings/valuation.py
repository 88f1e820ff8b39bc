"""What is my data worth: an honest, explained estimate per category and per seller.

estimate = base rate × licence multiplier × purpose multiplier × scarcity premium, blended
half-and-half with the median clearing price of the last 30 days once trades exist. All money in integer cents; ratios are applied once,
rounded half-up, in `_cents`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

from accounts import taxonomy
from accounts.models import LifeEvent, SellerProfile, User
from accounts.taxonomy import DataCategory, Purpose

# Base price per record for a 30-day licence, in euro cents. Sensitive and scarce data cost more.
BASE_RATE_CENTS: dict[str, int] = {
    DataCategory.DEMOGRAPHICS: 40,
    DataCategory.LOCATION: 50,
    DataCategory.DEVICE: 20,
    DataCategory.TELECOM: 30,
    DataCategory.INTERESTS: 60,
    DataCategory.CONTENT_AFFINITY: 45,
    DataCategory.LIFE_EVENTS: 150,
}
# A licence of N days costs base × LICENCE_MULTIPLIER[N].
LICENCE_MULTIPLIER: dict[int, Decimal] = {30: Decimal(1), 90: Decimal("2.4"), 365: Decimal(7)}
# Purposes: the base rate is for one purpose of average value. Advertising that targets a person
# pays more than counting an audience; each further purpose of the same licence adds
# EXTRA_PURPOSE (a wider licence is worth more, but less than a second sale).
PURPOSE_MULTIPLIER: dict[str, Decimal] = {
    Purpose.TARGETED_ADVERTISING: Decimal("1.2"),
    Purpose.PERSONALISED_CONTENT: Decimal("1.1"),
    Purpose.MARKET_RESEARCH: Decimal("0.9"),
    Purpose.PRODUCT_DEVELOPMENT: Decimal("0.9"),
    Purpose.AD_MEASUREMENT: Decimal("0.8"),
    Purpose.AUDIENCE_MEASUREMENT: Decimal("0.7"),
}
EXTRA_PURPOSE = Decimal("0.2")
# Which coarse attribute carries a category's scarcity.
SCARCITY_ATTRIBUTE: dict[str, str] = {
    DataCategory.DEMOGRAPHICS: "age_band",
    DataCategory.LOCATION: "region",
    DataCategory.DEVICE: "mobile_os",
    DataCategory.TELECOM: "mobile_operator",
}
MAX_PREMIUM = Decimal("1.5")
RANGE = Decimal("0.25")
STATS_TTL = 600

# marketplace registers a provider of recent clearing prices (cents per record) per category,
# and its twin for several categories at once (one query for a page that values them all).
ClearingPrices = Callable[[str, timedelta], list[int]]
ClearingPricesMany = Callable[[list[str], timedelta], dict[str, list[int]]]
_clearing_prices: list[ClearingPrices] = []
_clearing_prices_many: dict[ClearingPrices, ClearingPricesMany] = {}


def register_clearing_price_provider(
    provider: ClearingPrices, many: ClearingPricesMany | None = None
) -> None:
    if provider not in _clearing_prices:
        _clearing_prices.append(provider)
    if many is not None:
        _clearing_prices_many[provider] = many


def recent_clearing_prices(
    categories: list[str], window: timedelta = timedelta(days=30)
) -> dict[str, list[int]]:
    """Every provider's recent clearing prices for `categories`, each provider asked once when it
    has a twin for several categories."""
    recent: dict[str, list[int]] = {category: [] for category in categories}
    for provider in _clearing_prices:
        many = _clearing_prices_many.get(provider)
        answers = many(categories, window) if many else {c: provider(c, window) for c in categories}
        for category in categories:
            recent[category].extend(answers.get(category, []))
    return recent


# marketplace registers what buyers paid per record in settled trades, per category:
# {category: {"trades", "p25_cents", "p50_cents", "p75_cents"}}, in one query for all categories.
MarketPrices = Callable[[list[str], timedelta], dict[str, dict]]
_market_prices: list[MarketPrices] = []


def register_market_prices_provider(provider: MarketPrices) -> None:
    if provider not in _market_prices:
        _market_prices.append(provider)


def market_prices(categories: list[str], window: timedelta = timedelta(days=30)) -> dict[str, dict]:
    """What buyers paid per record in the last `window`, per category; no trades: zero and None."""
    empty = {"trades": 0, "p25_cents": None, "p50_cents": None, "p75_cents": None}
    figures = {category: dict(empty) for category in categories}
    for provider in _market_prices:
        figures.update(provider(categories, window))
    return figures


def purpose_multiplier(purposes: list[str] | None) -> Decimal:
    """The best purpose's multiplier plus EXTRA_PURPOSE per further purpose; none chosen: 1."""
    if not purposes:
        return Decimal(1)
    return max(PURPOSE_MULTIPLIER[p] for p in purposes) + EXTRA_PURPOSE * (len(set(purposes)) - 1)


def licences_per_year(licence_days: int, consent_window_days: int | None = None) -> Decimal:
    """Licences sold in a year: VALUATION_SELL_THROUGH per licence period while consent is valid
    (the consent window, not renewed; None: all year), at least one period."""
    selling_days = min(365, consent_window_days or 365)
    periods = max(Decimal(1), Decimal(selling_days) / licence_days)
    return periods * Decimal(str(settings.VALUATION_SELL_THROUGH))


def _cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def attribute_shares(attribute: str) -> dict[str, float]:
    """Share of live sellers per value of a coarse attribute; cached for ten minutes."""
    key = f"valuation:shares:{attribute}"
    shares = cache.get(key)
    if shares is None:
        rows = (
            SellerProfile.objects.filter(seller__is_active=True)
            .exclude(**{attribute: ""})
            .values(attribute)
            .annotate(n=Count("pk"))
        )
        total = sum(row["n"] for row in rows) or 1
        shares = {row[attribute]: row["n"] / total for row in rows}
        cache.set(key, shares, STATS_TTL)
    return shares


def _premium(category: str, profile: SellerProfile | None, life_event_kinds: int) -> tuple[Decimal, str]:
    attribute = SCARCITY_ATTRIBUTE.get(category)
    if category == DataCategory.LIFE_EVENTS:
        bonus = min(Decimal("0.1") * life_event_kinds, MAX_PREMIUM - 1)
        return 1 + bonus, f"{life_event_kinds} life events recorded"
    if attribute is None or profile is None or not getattr(profile, attribute):
        return Decimal(1), "no scarcity measured for this category"
    value = getattr(profile, attribute)
    share = attribute_shares(attribute).get(value, 0.0)
    premium = min(MAX_PREMIUM, Decimal(1) + (Decimal(1) - Decimal(str(round(share, 4)))) / 2)
    return premium, f"{share:.0%} of sellers share your {attribute.replace('_', ' ')} ({value})"


def category_valuation(
    category: str,
    *,
    profile: SellerProfile | None = None,
    life_event_kinds: int = 0,
    licence_days: int = 30,
    purposes: list[str] | None = None,
    recent: list[int] | None = None,
) -> dict:
    """`recent`: the category's clearing prices when the caller read them already (seller_valuation
    reads every category's in one go); None: asked of the providers here."""
    purpose_factor = purpose_multiplier(purposes)
    base = Decimal(BASE_RATE_CENTS[category]) * LICENCE_MULTIPLIER[licence_days] * purpose_factor
    premium, why = _premium(category, profile, life_event_kinds)
    modelled = base * premium
    if recent is None:
        recent = [price for provider in _clearing_prices for price in provider(category, timedelta(days=30))]
    clearing = Decimal(int(median(recent))) if recent else None
    estimate = (modelled + clearing) / 2 if clearing is not None else modelled
    return {
        "category": category,
        "estimate_cents": _cents(estimate),
        "low_cents": _cents(estimate * (1 - RANGE)),
        "high_cents": _cents(estimate * (1 + RANGE)),
        "currency": "EUR",
        "factors": {
            "base_rate_cents": _cents(base),
            "licence_days": licence_days,
            "licence_multiplier": str(LICENCE_MULTIPLIER[licence_days]),
            "purpose_multiplier": str(purpose_factor.quantize(Decimal("0.01"))),
            "scarcity_premium": str(premium.quantize(Decimal("0.01"))),
            "scarcity_explained": why,
            "median_clearing_price_cents_30d": _cents(clearing) if clearing is not None else None,
            "trades_in_30d": len(recent),
        },
    }


_READ = object()  # seller_valuation reads the profile itself


def seller_valuation(
    *,
    seller: User,
    categories: list[str] | None = None,
    licence_days: int = 30,
    purposes: list[str] | None = None,
    consent_window_days: int | None = None,
    profile: SellerProfile | None | object = _READ,
    life_event_kinds: int | None = None,
) -> dict:
    """Per-category estimates for one seller, the total, and a yearly income estimate (selling
    all year, or only during `consent_window_days` when given). A caller that has read the
    seller's profile and counted their life events already passes them, saving two queries."""
    if profile is _READ:
        profile = SellerProfile.objects.filter(seller=seller).first()
    kinds = LifeEvent.objects.filter(seller=seller).count() if life_event_kinds is None else life_event_kinds
    categories = list(categories or taxonomy.CATEGORY_CODES)
    recent = recent_clearing_prices(categories)
    per_category = [
        category_valuation(
            c,
            profile=profile,
            life_event_kinds=kinds,
            licence_days=licence_days,
            purposes=purposes,
            recent=recent[c],
        )
        for c in categories
    ]
    total = sum(item["estimate_cents"] for item in per_category)
    per_year = licences_per_year(licence_days, consent_window_days)
    return {
        "categories": per_category,
        "total": {
            "estimate_cents": total,
            "low_cents": sum(item["low_cents"] for item in per_category),
            "high_cents": sum(item["high_cents"] for item in per_category),
            "currency": "EUR",
        },
        "yearly_income_cents": _cents(total * per_year),
        "licences_per_year": str(per_year.quantize(Decimal("0.01"))),
        "explanation": (
            "Each category starts from a base rate per record, scaled by licence length, times a "
            "scarcity premium (rarer attribute values are worth more, measured on the live seller "
            "population), blended with the median clearing price of the last 30 days when trades "
            f"exist. Yearly income assumes {settings.VALUATION_SELL_THROUGH:g} licences sold per "
            f"{licence_days}-day window."
        ),
    }
