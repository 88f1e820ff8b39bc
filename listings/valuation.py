"""What is my data worth: an honest, explained estimate per category and per seller.

estimate = base rate × scarcity premium, blended half-and-half with the median clearing price
of the last 30 days once trades exist. All money in integer cents; ratios are applied once,
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
from accounts.taxonomy import DataCategory

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

# marketplace registers a provider of recent clearing prices (cents per record) per category.
ClearingPrices = Callable[[str, timedelta], list[int]]
_clearing_prices: list[ClearingPrices] = []


def register_clearing_price_provider(provider: ClearingPrices) -> None:
    if provider not in _clearing_prices:
        _clearing_prices.append(provider)


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
    category: str, *, profile: SellerProfile | None = None, life_event_kinds: int = 0, licence_days: int = 30
) -> dict:
    base = Decimal(BASE_RATE_CENTS[category]) * LICENCE_MULTIPLIER[licence_days]
    premium, why = _premium(category, profile, life_event_kinds)
    modelled = base * premium
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
            "scarcity_premium": str(premium.quantize(Decimal("0.01"))),
            "scarcity_explained": why,
            "median_clearing_price_cents_30d": _cents(clearing) if clearing is not None else None,
            "trades_in_30d": len(recent),
        },
    }


def seller_valuation(*, seller: User, categories: list[str] | None = None, licence_days: int = 30) -> dict:
    """Per-category estimates for one seller, the total, and a yearly income estimate."""
    profile = SellerProfile.objects.filter(seller=seller).first()
    kinds = LifeEvent.objects.filter(seller=seller).count()
    per_category = [
        category_valuation(c, profile=profile, life_event_kinds=kinds, licence_days=licence_days)
        for c in (categories or taxonomy.CATEGORY_CODES)
    ]
    total = sum(item["estimate_cents"] for item in per_category)
    licences_per_year = Decimal(365) / licence_days * Decimal(str(settings.VALUATION_SELL_THROUGH))
    return {
        "categories": per_category,
        "total": {
            "estimate_cents": total,
            "low_cents": sum(item["low_cents"] for item in per_category),
            "high_cents": sum(item["high_cents"] for item in per_category),
            "currency": "EUR",
        },
        "yearly_income_cents": _cents(total * licences_per_year),
        "explanation": (
            "Each category starts from a base rate per record, scaled by licence length, times a "
            "scarcity premium (rarer attribute values are worth more, measured on the live seller "
            "population), blended with the median clearing price of the last 30 days when trades "
            f"exist. Yearly income assumes {settings.VALUATION_SELL_THROUGH:g} licences sold per "
            f"{licence_days}-day window."
        ),
    }
