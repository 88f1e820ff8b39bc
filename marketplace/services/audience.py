"""Audience-bundle bids: placing, clearing at one uniform price, and the expiry sweep."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, Value
from django.utils import timezone

from accounts import lock_objects as account_locks
from accounts import taxonomy
from accounts.models import BuyerOrganisation
from core.errors import InvalidInput
from listings.models import Listing
from listings.selectors import SegmentCriteria, segment_members
from listings.valuation import SCARCITY_ATTRIBUTE, category_valuation
from marketplace import lock_objects
from marketplace.models import Bid, BidEvent, Trade
from marketplace.services._common import (
    _bid_transition,
    _check_amount,
    _check_buyer,
    _deletion_duty_blocks,
    _trade_create,
)

MAX_AUDIENCE_RECORDS = 100_000
MAX_AUDIENCE_BID_DAYS = 30


def _check_criteria(criteria: SegmentCriteria) -> None:
    if not criteria.categories:
        raise InvalidInput("categories_required", "Name at least one data category.", field="criteria")
    unknown = [c for c in criteria.categories if c not in taxonomy.CATEGORY_CODES]
    if unknown:
        raise InvalidInput("category_unknown", f"{unknown[0]!r} is not a data category.", field="criteria")
    if criteria.purpose not in taxonomy.PURPOSE_CODES:
        raise InvalidInput("purpose_unknown", f"{criteria.purpose!r} is not a purpose.", field="criteria")
    if criteria.licence_days not in taxonomy.LICENCE_DAYS:
        raise InvalidInput("licence_invalid", "Choose a licence of 30, 90 or 365 days.", field="criteria")


def audience_bid_place(
    *,
    organisation: BuyerOrganisation,
    criteria: SegmentCriteria,
    max_price_cents: int,
    max_records: int,
    expires_at: datetime,
) -> Bid:
    """An open bid for up to `max_records` records matching `criteria` at up to `max_price_cents`
    each; cleared by a worker now and by the sweep until it expires."""
    _check_buyer(organisation)
    _check_criteria(criteria)
    _check_amount(max_price_cents, "max_price_cents")
    k = settings.SEGMENT_MIN_SIZE
    if not k <= max_records <= MAX_AUDIENCE_RECORDS:
        raise InvalidInput(
            "max_records_invalid",
            f"Ask for {k} to {MAX_AUDIENCE_RECORDS} records: bundles under {k} are never sold.",
            field="max_records",
        )
    now = timezone.now()
    if not now < expires_at <= now + timedelta(days=MAX_AUDIENCE_BID_DAYS):
        raise InvalidInput(
            "expiry_invalid", f"The bid expires within {MAX_AUDIENCE_BID_DAYS} days.", field="expires_at"
        )
    with transaction.atomic(durable=True):
        bid = Bid.objects.create(
            organisation=organisation,
            kind=Bid.Kind.AUDIENCE,
            amount_cents=max_price_cents,
            purpose=criteria.purpose,
            licence_days=criteria.licence_days,
            criteria=asdict(criteria),
            max_records=max_records,
            expires_at=expires_at,
            amount_set_at=now,
            created_at=now,
        )
        BidEvent.objects.create(bid=bid, to_status=Bid.Status.OPEN, amount_cents=max_price_cents)
        from marketplace.tasks import audience_bid_clear

        audience_bid_clear.delay_on_commit(bid.pk)  # type: ignore[attr-defined]  # a DjangoTask; stubs: Task
    return bid


def _mask_and(field_name: str, mask: int) -> ExpressionWrapper:
    return ExpressionWrapper(
        F(field_name).bitand(Value(mask, output_field=BigIntegerField())),  # type: ignore[arg-type]  # stubs: int only; an expression works
        output_field=BigIntegerField(),
    )


def _audience_floors(
    criteria: SegmentCriteria, at: datetime, seller_ids: list[int] | None = None
) -> list[tuple[int, int, int]]:
    """(floor per record, seller id, categories mask) for every seller this bundle may sell now,
    cheapest first (ties: the lower seller id).

    Eligible: segment members (valid consent now for every wanted category x the purpose) who
    either opted in to audience bundles for every wanted category (floor: their cheapest active
    listing covering the categories, the purpose and at least the licence, else their
    valuation), or have one such active listing (floor: its price). A seller who only lists
    categories piecemeal never agreed to a bundle at a modelled price. Sensitive categories
    always need the seller's own audience opt-in, whatever their listings.
    """
    wanted = taxonomy.mask_of(criteria.categories, taxonomy.CATEGORY_CODES)
    sensitive = taxonomy.mask_of(
        [c for c in criteria.categories if c in taxonomy.SENSITIVE_CATEGORIES], taxonomy.CATEGORY_CODES
    )
    purpose_bit = taxonomy.mask_of([criteria.purpose], taxonomy.PURPOSE_CODES)
    members = segment_members(criteria, at)
    if seller_ids is not None:
        members = members.filter(pk__in=seller_ids)
    if sensitive:
        members = members.alias(optin_sensitive=_mask_and("audience_optin_mask", sensitive)).filter(
            optin_sensitive=sensitive
        )
    profiles = list(members.order_by("pk"))
    by_listing: dict[int, int] = {}
    for seller_id, categories, purposes, listing_floor in Listing.objects.filter(
        seller_id__in=[m.pk for m in profiles],
        status=Listing.Status.ACTIVE,
        licence_days__gte=criteria.licence_days,  # a floor asked for a shorter licence says nothing
    ).values_list("seller_id", "categories_mask", "purposes_mask", "floor_price_cents"):
        if categories & wanted == wanted and purposes & purpose_bit:
            by_listing[seller_id] = min(listing_floor, by_listing.get(seller_id, listing_floor))
    valuations: dict[tuple[str, object], int] = {}  # a valuation depends on one coarse attribute

    def valuation(category: str, profile) -> int:
        attribute = SCARCITY_ATTRIBUTE.get(category)
        key = (category, getattr(profile, attribute) if attribute else None)
        if key not in valuations:
            valuations[key] = category_valuation(
                category, profile=profile, licence_days=criteria.licence_days
            )["estimate_cents"]
        return valuations[key]

    floors = []
    for profile in profiles:
        floor = by_listing.get(profile.pk)
        if floor is None:
            if profile.audience_optin_mask & wanted != wanted:
                continue
            floor = sum(valuation(c, profile) for c in criteria.categories)
        floors.append((floor, profile.pk, wanted))
    return sorted(floors)


def audience_bid_clear(*, bid_id: int) -> Trade | None:
    """Clear an open audience bid: eligible sellers with a floor at or under the bid, cheapest
    first, up to the maximum; one uniform price per record = the highest floor selected; never
    fewer than K records (the bid then stays open until it expires)."""
    k = settings.SEGMENT_MIN_SIZE
    open_bid = (
        Bid.objects.filter(
            pk=bid_id, kind=Bid.Kind.AUDIENCE, status=Bid.Status.OPEN, expires_at__gt=timezone.now()
        )
        .select_related("organisation")
        .first()
    )
    if open_bid is None:
        return None
    if _deletion_duty_blocks(open_bid.organisation):
        return None  # buys nothing while its deletion notices are overdue; stays open till it expires
    bid: Bid = open_bid  # re-read under its lock below; select() reads the current one
    criteria = SegmentCriteria(**cast(dict[str, Any], bid.criteria))  # audience bids have criteria

    def select(seller_ids: list[int] | None = None) -> list[tuple[int, int, int]]:
        floors = _audience_floors(criteria, timezone.now(), seller_ids)
        return [f for f in floors if f[0] <= bid.amount_cents][: bid.max_records]

    selected = select()
    if len(selected) < k:
        return None
    with transaction.atomic(durable=True):
        # a revocation of any selected seller's consent now waits for us, or we see it below
        account_locks.consent_grants_active_of_sellers([seller_id for _f, seller_id, _m in selected])
        (bid,) = lock_objects.bids(Bid.objects.filter(pk=bid_id))
        if bid.status != Bid.Status.OPEN or cast(datetime, bid.expires_at) <= timezone.now():
            return None
        # eligibility and floors re-read under the locks: only sellers still sellable now
        selected = select([seller_id for _f, seller_id, _m in selected])
        if len(selected) < k:
            return None
        price = max(floor for floor, _s, _m in selected)
        _bid_transition(bid, Bid.Status.WON, f"cleared {len(selected)} records at {price} cents")
        return _trade_create(
            bid, price_per_record=price, sellers=[(s, m) for _f, s, m in selected], listing=None
        )


def audience_bids_sweep(*, now: datetime | None = None) -> int:
    """Expire audience bids past their expiry; retry clearing the others. Returns bids expired."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        expired = lock_objects.bids(
            Bid.objects.filter(kind=Bid.Kind.AUDIENCE, status=Bid.Status.OPEN, expires_at__lte=now)
        )
        for bid in expired:
            _bid_transition(bid, Bid.Status.EXPIRED, "expired before clearing")
    for bid_id in Bid.objects.filter(kind=Bid.Kind.AUDIENCE, status=Bid.Status.OPEN).values_list(
        "pk", flat=True
    ):
        audience_bid_clear(bid_id=bid_id)
    return len(expired)
