"""Reads for listings: what buyers may browse, and audience segment sizing with a k-anonymity floor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts import taxonomy
from accounts.models import SellerProfile, User
from listings.models import Listing
from listings.valuation import category_valuation


def _has_bits(field_name: str, mask: int, vocabulary: tuple[str, ...]) -> Q:
    """field has every bit of mask, as the list of the values that do (at most 2^7 = 128).

    Equivalent to field & mask = mask, but PostgreSQL estimates an IN list from the column's
    statistics, where it guesses 0.5 % for a condition on an expression: with that guess it
    would rather sort every active listing than walk the browse index and stop at the page size.
    """
    return Q(**{f"{field_name}__in": [m for m in range(1, 1 << len(vocabulary)) if m & mask == mask]})


@dataclass(frozen=True)
class SegmentCriteria:
    categories: list[str]
    purpose: str
    licence_days: int = 30
    age_bands: list[str] = field(default_factory=list)
    genders: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    mobile_os: list[str] = field(default_factory=list)
    mobile_operators: list[str] = field(default_factory=list)
    interests: list[str] = field(default_factory=list)
    interests_match: str = "any"  # "any" | "all"
    affinities: list[str] = field(default_factory=list)


# Key columns of profile_audience_covering, in index order, with their vocabularies.
_AUDIENCE_KEYS = (
    ("region", "regions", taxonomy.Region.values),
    ("age_band", "age_bands", taxonomy.AgeBand.values),
    ("gender", "genders", taxonomy.Gender.values),
    ("mobile_os", "mobile_os", taxonomy.MobileOS.values),
    ("mobile_operator", "mobile_operators", taxonomy.MobileOperator.values),
)


def segment_members(criteria: SegmentCriteria, at: datetime | None = None) -> QuerySet[SellerProfile]:
    """Profiles matching the criteria whose sellers consent, now, to every wanted category for the
    purpose and offer those categories. One table, one covering index (profile_audience_covering).

    PostgreSQL before 18 has no skip scan: when a later key column of the index is constrained
    but an earlier one is not, the earlier one is listed in full (its vocabulary, which the
    database enforces, plus ''), so the index reads only the matching entries. The bit tests
    are one SQL condition, evaluated on the index's INCLUDE columns.
    """
    wanted = taxonomy.pairs_mask(criteria.categories, [criteria.purpose])
    bits, params = ["sellable_mask & %s = %s"], [wanted, wanted]
    if criteria.interests:
        mask = taxonomy.mask_of(criteria.interests, taxonomy.INTEREST_CODES)
        if criteria.interests_match == "all":
            bits.append("interests_mask & %s = %s")
            params += [mask, mask]
        else:
            bits.append("interests_mask & %s <> 0")
            params.append(mask)
    if criteria.affinities:
        bits.append("affinities_mask & %s <> 0")
        params.append(taxonomy.mask_of(criteria.affinities, taxonomy.AFFINITY_CODES))
    chosen = [list(getattr(criteria, attribute)) for _name, attribute, _vocabulary in _AUDIENCE_KEYS]
    last = max((i for i, values in enumerate(chosen) if values), default=-1)
    if not (chosen[0] or chosen[1]):
        last = -1  # gender / OS / operator only: broad; a (parallel) full index scan serves it best
    keys = {
        f"{name}__in": values or [*vocabulary, ""]
        for i, ((name, _attribute, vocabulary), values) in enumerate(zip(_AUDIENCE_KEYS, chosen, strict=True))
        if values or i < last
    }
    return SellerProfile.objects.filter(
        # columns unqualified: the condition is valid inside a subquery too
        RawSQL(" AND ".join(bits), params, output_field=BooleanField()),
        sellable_mask__gt=0,
        sellable_until__gt=at or timezone.now(),
        **keys,
    )


def rounded_count(count: int) -> int:
    """Counts are published coarsely: to 5 under 100, 10 under 1,000, 100 under 10,000, else 1,000."""
    step = 5 if count < 100 else 10 if count < 1_000 else 100 if count < 10_000 else 1_000
    return max(settings.SEGMENT_MIN_SIZE, count - count % step)


def segment_size(criteria: SegmentCriteria) -> dict:
    """{"count": rounded, ...} or, below K, {"count": None, "fewer_than": K}. Never the exact count."""
    k = settings.SEGMENT_MIN_SIZE
    count = segment_members(criteria).count()
    if count < k:
        return {"count": None, "fewer_than": k, "rounded": True}
    return {"count": rounded_count(count), "fewer_than": None, "rounded": True}


def percentiles(values: list[int]) -> tuple[int, int, int]:
    """p25, p50, p75 of `values` (not empty), interpolated as PostgreSQL's percentile_cont: the
    Python twin of the aggregate where the database is not PostgreSQL."""
    values = sorted(values)

    def at(q: float) -> int:
        position = q * (len(values) - 1)
        low = int(position)
        high = min(low + 1, len(values) - 1)
        return round(values[low] + (values[high] - values[low]) * (position - low))

    return at(0.25), at(0.5), at(0.75)


def segment_price_estimate_cached(criteria: SegmentCriteria) -> dict:
    """segment_price_estimate, kept SEGMENT_ESTIMATE_CACHE_SECONDS in the shared cache per
    normalised criteria (0: not cached).

    The estimate reads every active listing of the segment, so a burst of sizing requests would
    read them all each time; quartiles of asking prices move slowly, so they may be that many
    seconds old. The count beside them (segment_size) is always read now.
    """
    ttl = settings.SEGMENT_ESTIMATE_CACHE_SECONDS
    if ttl <= 0:
        return segment_price_estimate(criteria)
    key = segment_estimate_cache_key(criteria)
    estimate = cache.get(key)
    if estimate is None:
        estimate = segment_price_estimate(criteria)
        cache.set(key, estimate, ttl)
    return estimate


def segment_estimate_cache_key(criteria: SegmentCriteria) -> str:
    normalised = {
        name: sorted(value) if isinstance(value, list) else value for name, value in asdict(criteria).items()
    }
    return (
        "segment-estimate:v1:"
        + hashlib.sha256(json.dumps(normalised, sort_keys=True).encode()).hexdigest()[:32]
    )


def segment_price_estimate(criteria: SegmentCriteria) -> dict:
    """Floor prices per record at p25 / p50 / p75 over the segment's active listings that cover the
    wanted categories and purpose; from the valuation model when fewer than K such listings."""
    k = settings.SEGMENT_MIN_SIZE
    categories = taxonomy.mask_of(criteria.categories, taxonomy.CATEGORY_CODES)
    purpose = taxonomy.mask_of([criteria.purpose], taxonomy.PURPOSE_CODES)
    listings = Listing.objects.filter(
        _has_bits("categories_mask", categories, taxonomy.CATEGORY_CODES),
        _has_bits("purposes_mask", purpose, taxonomy.PURPOSE_CODES),
        status=Listing.Status.ACTIVE,
        seller_id__in=segment_members(criteria).values("seller_id"),
    )
    if connection.vendor == "postgresql":
        sql, params = listings.values("floor_price_cents").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP "
                f"(ORDER BY floor_price_cents) FROM ({sql}) floors",
                params,
            )
            count, quartiles = cursor.fetchone()
        quartiles = [round(q) for q in quartiles] if quartiles else None
    else:
        floors = list(listings.values_list("floor_price_cents", flat=True))
        count, quartiles = len(floors), list(percentiles(floors)) if floors else None
    if count >= k and quartiles:
        p25, p50, p75 = quartiles
        source = "active_listings"
    else:
        estimates = [category_valuation(c, licence_days=criteria.licence_days) for c in criteria.categories]
        p50 = sum(e["estimate_cents"] for e in estimates)
        p25, p75 = sum(e["low_cents"] for e in estimates), sum(e["high_cents"] for e in estimates)
        source = "valuation_model"
    return {"currency": "EUR", "p25_cents": p25, "p50_cents": p50, "p75_cents": p75, "source": source}


# The seller's coarse attributes a listing may show (listings.api.views.ATTRIBUTES_SHOWN), read
# with the listing as profile_<name> columns: no user or profile object per listing.
PROFILE_ATTRIBUTES = (
    "age_band",
    "gender",
    "region",
    "mobile_os",
    "mobile_operator",
    "interests_mask",
    "affinities_mask",
)


def listings_for_buyers(at: datetime | None = None) -> QuerySet[Listing]:
    """Active listings whose seller's consent still holds now, never stale ones, each with its
    seller's coarse attributes (profile_<name>).

    A listing is active only while consent holds (the cascade pauses it in the revoking
    transaction); the sellable check also excludes a window that ended seconds before the sweep.
    """
    at = at or timezone.now()
    return (
        Listing.objects.filter(status=Listing.Status.ACTIVE, seller__is_active=True)
        .filter(seller__profile__sellable_until__gt=at)
        .annotate(**{f"profile_{name}": F(f"seller__profile__{name}") for name in PROFILE_ATTRIBUTES})
    )


ATTRIBUTE_CATEGORY = {
    attribute: category for category, fields in taxonomy.CATEGORY_FIELDS.items() for attribute in fields
}


def listing_filter(
    listings: QuerySet[Listing],
    *,
    category: str | None = None,
    purpose: str | None = None,
    pricing_mode: str | None = None,
    min_price_cents: int | None = None,
    max_price_cents: int | None = None,
    age_band: str | None = None,
    gender: str | None = None,
    region: str | None = None,
    mobile_os: str | None = None,
    mobile_operator: str | None = None,
) -> QuerySet[Listing]:
    if category:
        bit = taxonomy.mask_of([category], taxonomy.CATEGORY_CODES)
        listings = listings.filter(_has_bits("categories_mask", bit, taxonomy.CATEGORY_CODES))
    if purpose:
        bit = taxonomy.mask_of([purpose], taxonomy.PURPOSE_CODES)
        listings = listings.filter(_has_bits("purposes_mask", bit, taxonomy.PURPOSE_CODES))
    if pricing_mode:
        listings = listings.filter(pricing_mode=pricing_mode)
    if min_price_cents is not None:
        listings = listings.filter(floor_price_cents__gte=min_price_cents)
    if max_price_cents is not None:
        listings = listings.filter(floor_price_cents__lte=max_price_cents)
    for name, value in (
        ("age_band", age_band),
        ("gender", gender),
        ("region", region),
        ("mobile_os", mobile_os),
        ("mobile_operator", mobile_operator),
    ):
        if value:
            # an attribute filters only listings that sell it: filtering device listings by
            # region would reveal the region of sellers who never sold it
            bit = taxonomy.mask_of([ATTRIBUTE_CATEGORY[name]], taxonomy.CATEGORY_CODES)
            listings = listings.filter(
                _has_bits("categories_mask", bit, taxonomy.CATEGORY_CODES),
                **{f"seller__profile__{name}": value},
            )
    return listings


def listings_of_seller(*, seller: User) -> QuerySet[Listing]:
    return Listing.objects.filter(seller=seller).order_by("-created_at")


# ---------------------------------------------------------------------------------------------
# GDPR export (Art. 15 / 20): the seller's listings, registered from ListingsConfig.ready
# ---------------------------------------------------------------------------------------------


def seller_export_listings(seller: User) -> list[dict]:
    """Every listing of the seller with its status history, codes and ISO timestamps (2 queries)."""
    listings = Listing.objects.filter(seller=seller).prefetch_related("events").order_by("created_at", "pk")
    return [
        {
            "id": str(listing.public_id),
            "categories": taxonomy.codes_of(listing.categories_mask, taxonomy.CATEGORY_CODES),
            "purposes": taxonomy.codes_of(listing.purposes_mask, taxonomy.PURPOSE_CODES),
            "licence_days": listing.licence_days,
            "pricing_mode": listing.pricing_mode,
            "floor_price_cents": listing.floor_price_cents,
            "suggested_price_cents": listing.suggested_price_cents,
            "currency": listing.currency,
            "auction_ends_at": _iso(listing.auction_ends_at),
            "status": listing.status,
            "status_reason": listing.status_reason,
            "created_at": _iso(listing.created_at),
            "history": [
                {
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "reason": event.reason,
                    "occurred_at": _iso(event.occurred_at),
                }
                for event in listing.events.all()
            ],
        }
        for listing in listings
    ]


seller_export_listings.covers = ("listings.Listing", "listings.ListingEvent")  # type: ignore[attr-defined]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# Labels for the codes of this section, for the My data page (accounts cannot import listings).
seller_export_listings.choices = {  # type: ignore[attr-defined]
    "status": dict(Listing.Status.choices),
    "from_status": dict(Listing.Status.choices),
    "to_status": dict(Listing.Status.choices),
    "pricing_mode": dict(Listing.PricingMode.choices),
}
