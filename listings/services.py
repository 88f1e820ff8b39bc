"""Every write to listings: creation, the one status-transition service, moderation, and the
derived audience masks that segment sizing reads (the consent and suspension cascades that call
them are listings.receivers)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import lock_objects as account_locks
from accounts import taxonomy
from accounts.models import ConsentGrant, SellerProfile, User
from accounts.selectors import consent_valid_q, seller_badges
from accounts.taxonomy import SENSITIVE_CATEGORIES, DataCategory, Purpose
from core import audit
from core.db import Ids
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEntry
from listings import lock_objects
from listings.models import Listing, ListingEvent

MAX_FLOOR_PRICE_CENTS = 100_000_00
MAX_AUCTION_DAYS = 30

_TERMS_AUDITED = ("categories", "purposes", "licence_days", "pricing_mode", "floor_price_cents")


def _missing_consent(
    seller_id: int, categories: Iterable[str], purposes: Iterable[str], at: datetime
) -> list[str]:
    wanted = {(c, p) for c in categories for p in purposes}
    held = set(
        ConsentGrant.objects.filter(seller_id=seller_id)
        .filter(consent_valid_q(at))
        .values_list("category", "purpose")
    )
    return sorted(f"{c}:{p}" for c, p in wanted - held)


def _validated_terms(
    *,
    categories: list[str],
    purposes: list[str],
    licence_days: int,
    pricing_mode: str,
    floor_price_cents: int,
    auction_ends_at: datetime | None,
    now: datetime,
) -> dict:
    if not categories:
        raise InvalidInput("categories_required", "List at least one data category.", field="categories")
    if not purposes:
        raise InvalidInput("purposes_required", "Allow at least one purpose.", field="purposes")
    for category in categories:
        if category not in DataCategory.values:
            raise InvalidInput(
                "category_unknown", f"{category!r} is not a data category.", field="categories"
            )
    for purpose in purposes:
        if purpose not in Purpose.values:
            raise InvalidInput("purpose_unknown", f"{purpose!r} is not a purpose.", field="purposes")
    if licence_days not in taxonomy.LICENCE_DAYS:
        raise InvalidInput("licence_invalid", "A licence lasts 30, 90 or 365 days.", field="licence_days")
    if pricing_mode not in Listing.PricingMode.values:
        raise InvalidInput("pricing_mode_unknown", "Choose fixed or auction.", field="pricing_mode")
    if not isinstance(floor_price_cents, int) or isinstance(floor_price_cents, bool):
        raise InvalidInput("price_invalid", "Prices are whole cents.", field="floor_price_cents")
    if not 0 < floor_price_cents <= MAX_FLOOR_PRICE_CENTS:
        raise InvalidInput(
            "price_out_of_range",
            "The floor price must be between 1 cent and 100,000 €.",
            field="floor_price_cents",
        )
    if pricing_mode == Listing.PricingMode.AUCTION:
        if auction_ends_at is None or not now + timedelta(hours=1) <= auction_ends_at <= now + timedelta(
            days=MAX_AUCTION_DAYS
        ):
            raise InvalidInput(
                "auction_end_invalid",
                f"An auction ends between one hour and {MAX_AUCTION_DAYS} days from now.",
                field="auction_ends_at",
            )
    elif auction_ends_at is not None:
        raise InvalidInput(
            "auction_end_not_allowed", "Only auctions have an end time.", field="auction_ends_at"
        )
    return {
        "categories_mask": taxonomy.mask_of(categories, taxonomy.CATEGORY_CODES),
        "purposes_mask": taxonomy.mask_of(purposes, taxonomy.PURPOSE_CODES),
        "licence_days": licence_days,
        "pricing_mode": pricing_mode,
        "floor_price_cents": floor_price_cents,
        "auction_ends_at": auction_ends_at,
    }


def _auto_approves(seller: User) -> bool:
    if not settings.LISTING_AUTO_APPROVE_VERIFIED or not seller_badges(seller=seller)["verified_seller"]:
        return False
    flagged = ListingEvent.objects.filter(listing__seller=seller, to_status=Listing.Status.SUSPENDED).exists()
    return not flagged


def listing_create(
    *,
    seller: User,
    categories: list[str],
    purposes: list[str],
    licence_days: int,
    pricing_mode: str,
    floor_price_cents: int,
    auction_ends_at: datetime | None = None,
) -> Listing:
    """Create a listing and submit it for review (or activate it for trusted sellers).

    Refused unless the seller holds valid consent now for every listed category × purpose.
    """
    from listings.valuation import seller_valuation

    if seller.role != User.Role.SELLER or seller.erased_at or not seller.is_active:
        raise Forbidden("not_a_seller", "Only an active seller can list data.")
    now = timezone.now()
    terms = _validated_terms(
        categories=categories,
        purposes=purposes,
        licence_days=licence_days,
        pricing_mode=pricing_mode,
        floor_price_cents=floor_price_cents,
        auction_ends_at=auction_ends_at,
        now=now,
    )
    suggestion = seller_valuation(seller=seller, categories=categories, licence_days=licence_days)
    with transaction.atomic(durable=True):
        # lock order: consent grants first, so a concurrent revocation cannot slip in between
        account_locks.consent_grants_active_of_sellers([seller.pk])
        missing = _missing_consent(seller.pk, categories, purposes, now)
        if missing:
            raise InvalidInput(
                "consent_missing",
                f"Give consent first for: {', '.join(missing)}.",
                field="categories",
            )
        listing = Listing.objects.create(
            seller=seller, suggested_price_cents=suggestion["total"]["estimate_cents"], **terms
        )
        ListingEvent.objects.create(
            listing=listing,
            from_status=Listing.Status.DRAFT,
            to_status=Listing.Status.DRAFT,
            reason="created",
            actor=seller,
        )
        audit.record(
            "listing.created",
            listing,
            actor=seller,
            changes={field: getattr(listing, field) for field in _TERMS_AUDITED},
        )
        target = Listing.Status.ACTIVE if _auto_approves(seller) else Listing.Status.PENDING_REVIEW
        _transition_locked(
            listing, target, actor=seller, reason="auto-approved" if target == Listing.Status.ACTIVE else ""
        )
    return listing


def _transition_locked(
    listing: Listing,
    to_status: str,
    *,
    actor: User | None,
    reason: str,
    refresh: bool = True,
    audit_entries: list[AuditEntry] | None = None,
) -> None:
    """Check and apply one transition, with its event and audit entry, and keep what the seller
    offers in step: a move into or out of `active` refreshes the seller's audience state
    (sellable pairs and their end) in this same transaction, so buyers see the listing, or stop
    seeing it, at commit. `refresh=False` only for a caller that refreshes its sellers itself
    right after; `audit_entries` for a caller that moves many listings and writes their audit
    entries at once (audit.write).

    Requires: the listing row locked.
    """
    if to_status not in Listing.TRANSITIONS[listing.status]:
        raise Conflict(
            "transition_not_allowed", f"A listing that is {listing.status} cannot become {to_status}."
        )
    if to_status == Listing.Status.ACTIVE:
        missing = _missing_consent(listing.seller_id, listing.categories, listing.purposes, timezone.now())
        if missing:
            raise Conflict("consent_missing", f"Consent is missing for: {', '.join(missing)}.")
    ListingEvent.objects.create(
        listing=listing, from_status=listing.status, to_status=to_status, reason=reason, actor=actor
    )
    from_status = listing.status
    offered_before = from_status == Listing.Status.ACTIVE
    listing.status = to_status
    listing.status_reason = reason
    listing.save(update_fields=["status", "status_reason", "updated_at"])
    entry = audit.entry(
        Listing.audit_action(from_status, to_status),
        listing,
        actor=actor,
        reason=reason,
        changes={"status": [from_status, to_status]},
    )
    if audit_entries is None:
        audit.write([entry])
    else:
        audit_entries.append(entry)
    if refresh and offered_before != (to_status == Listing.Status.ACTIVE):
        audience_refresh(seller_ids=[listing.seller_id])


def listing_hold_locked(listing: Listing, *, reason: str) -> None:
    """Take a locked active listing off the market while its buyer's payment is authorised
    (marketplace: buy now, or an auction won). Requires: the listing row locked."""
    _transition_locked(listing, Listing.Status.HELD, actor=None, reason=reason)


def listing_expire_locked(listing: Listing, *, reason: str) -> None:
    """An auction that ended without a winning bid. Requires: the listing row locked."""
    _transition_locked(listing, Listing.Status.EXPIRED, actor=None, reason=reason)


def listings_sold_locked(listing_ids: Sequence[int], *, reason: str) -> None:
    """Held listings whose trade settled become sold: one UPDATE and one INSERT of events.
    Neither state is offered to buyers, so what the sellers offer does not change.

    Requires: the listing rows locked (settlement locks them before the trades)."""
    held = list(
        Listing.objects.filter(pk__in=listing_ids, status=Listing.Status.HELD).values_list("pk", flat=True)
    )
    if not held:
        return
    now = timezone.now()
    ListingEvent.objects.bulk_create(
        ListingEvent(
            listing_id=pk,
            from_status=Listing.Status.HELD,
            to_status=Listing.Status.SOLD,
            reason=reason,
            occurred_at=now,
        )
        for pk in held
    )
    Listing.objects.filter(pk__in=held).update(
        status=Listing.Status.SOLD, status_reason=reason, updated_at=now
    )
    audit.record_rows(
        "listing.sold",
        Listing,
        [(pk, f"listing {pk} ({Listing.Status.SOLD})") for pk in held],
        reason=reason,
        changes={"status": [Listing.Status.HELD, Listing.Status.SOLD]},
        at=now,
    )


def listing_release_locked(listing: Listing, *, reason: str, auction_hours: int) -> str:
    """A held listing whose sale failed goes back on the market if its seller still consents and
    is active (an auction with a new end, `auction_hours` from now); paused when consent is
    missing, withdrawn when the seller is gone. Returns the new status.

    Requires: the seller's consent grants, then the listing, locked (the system's lock order).
    """
    seller_active = User.objects.filter(pk=listing.seller_id, is_active=True, erased_at=None).exists()
    if not seller_active:
        target = Listing.Status.WITHDRAWN
    elif listing_missing_consent(listing):
        target = Listing.Status.PAUSED
    else:
        target = Listing.Status.ACTIVE
    if target == Listing.Status.ACTIVE and listing.pricing_mode == Listing.PricingMode.AUCTION:
        listing.auction_ends_at = timezone.now() + timedelta(hours=auction_hours)
        listing.save(update_fields=["auction_ends_at", "updated_at"])
    _transition_locked(listing, target, actor=None, reason=reason)
    return target


def listing_missing_consent(listing: Listing, at: datetime | None = None) -> list[str]:
    """The listing's category:purpose pairs without valid consent at `at` (default now)."""
    return _missing_consent(listing.seller_id, listing.categories, listing.purposes, at or timezone.now())


def _locked_listing(listing_id: int, seller: User | None = None) -> Listing:
    listing = lock_objects.listing(listing_id, seller=seller)
    if listing is None:
        raise NotFound("not_found", "No such listing.")
    return listing


def listing_transition(
    *, listing_id: int, to_status: str, actor: User | None, reason: str = "", seller: User | None = None
) -> Listing:
    """The one service that changes a listing's status: lock, check, audit, refresh the audience."""
    if to_status not in Listing.Status.values:
        raise InvalidInput("status_unknown", f"Unknown status {to_status!r}.")
    with transaction.atomic(durable=True):
        seller_id = Listing.objects.filter(pk=listing_id).values_list("seller_id", flat=True).first()
        account_locks.consent_grants_active_of_sellers([] if seller_id is None else [seller_id])
        listing = _locked_listing(listing_id, seller)
        _transition_locked(listing, to_status, actor=actor, reason=reason)
    return listing


SELLER_MOVES = {
    Listing.Status.PAUSED,
    Listing.Status.ACTIVE,
    Listing.Status.WITHDRAWN,
    Listing.Status.PENDING_REVIEW,
}


def listing_seller_action(*, seller: User, listing_id: int, to_status: str) -> Listing:
    """A seller pauses, resumes, resubmits or withdraws their own listing (404 for anyone else's)."""
    if to_status not in SELLER_MOVES:
        raise Forbidden("action_not_allowed", "Sellers can pause, resume, resubmit or withdraw.")
    with transaction.atomic():
        current = (
            Listing.objects.filter(pk=listing_id, seller=seller).values_list("status", flat=True).first()
        )
    if current is None:
        raise NotFound("not_found", "No such listing.")
    if to_status == Listing.Status.ACTIVE and current != Listing.Status.PAUSED:
        raise Conflict("transition_not_allowed", "Only a paused listing can be resumed.")
    return listing_transition(listing_id=listing_id, to_status=to_status, actor=seller, seller=seller)


def listing_moderate(*, listing_id: int, moderator: User, approve: bool, reason: str = "") -> Listing:
    """Approve (→ active) or reject (→ draft, with the reason shown to the seller) a pending listing."""
    if moderator.role != User.Role.MODERATOR:
        raise Forbidden("moderator_required", "Only moderators review listings.")
    if not approve and not reason.strip():
        raise InvalidInput("reason_required", "Give the seller a reason for the rejection.", field="reason")
    current = Listing.objects.filter(pk=listing_id).values_list("status", flat=True).first()
    if current != Listing.Status.PENDING_REVIEW:
        raise Conflict("not_pending", "Only listings pending review can be approved or rejected.")
    return listing_transition(
        listing_id=listing_id,
        to_status=Listing.Status.ACTIVE if approve else Listing.Status.DRAFT,
        actor=moderator,
        reason=reason.strip(),
    )


def listing_suspend(*, listing_id: int, moderator: User, reason: str) -> Listing:
    if moderator.role != User.Role.MODERATOR:
        raise Forbidden("moderator_required", "Only moderators suspend listings.")
    if not reason.strip():
        raise InvalidInput("reason_required", "Give a reason for the suspension.", field="reason")
    return listing_transition(
        listing_id=listing_id, to_status=Listing.Status.SUSPENDED, actor=moderator, reason=reason.strip()
    )


def listing_update_terms(
    *, seller: User, listing_id: int, floor_price_cents: int, licence_days: int | None = None
) -> Listing:
    """Change the price (and licence) of one's own listing that is not sold or closed."""
    with transaction.atomic(durable=True):
        listing = _locked_listing(listing_id, seller)
        if listing.status not in Listing.LIVE:
            raise Conflict("listing_closed", "This listing can no longer be changed.")
        terms = _validated_terms(
            categories=listing.categories,
            purposes=listing.purposes,
            licence_days=licence_days or listing.licence_days,
            pricing_mode=listing.pricing_mode,
            floor_price_cents=floor_price_cents,
            auction_ends_at=listing.auction_ends_at,
            now=listing.created_at,
        )
        changes = {
            field: [getattr(listing, field), terms[field]]
            for field in ("floor_price_cents", "licence_days")
            if getattr(listing, field) != terms[field]
        }
        listing.floor_price_cents = terms["floor_price_cents"]
        listing.licence_days = terms["licence_days"]
        listing.save(update_fields=["floor_price_cents", "licence_days", "updated_at"])
        if changes:
            action = "listing.price_changed" if "floor_price_cents" in changes else "listing.terms_changed"
            audit.record(action, listing, actor=seller, changes=changes)
    return listing


# ---------------------------------------------------------------------------------------------
# Audience masks (the consent and suspension cascades are in listings.receivers)
# ---------------------------------------------------------------------------------------------


def audience_refresh(*, seller_ids: Iterable[int], at: datetime | None = None) -> int:
    """The one derivation of what a seller offers: recompute each seller's sellable (category,
    purpose) pairs and the earliest end of their consents, what segment sizing and the buyers'
    listing browse read. Pairs = (audience opt-ins × every purpose ∪ active listings' categories
    × purposes) ∩ pairs with valid consent now; nothing for a deactivated seller.

    Called in the transaction of every change to those inputs: listing transitions into or out of
    `active` (`_transition_locked`), audience opt-ins, consent changes (the consent hook) and
    erasure (through the consent hook)."""
    seller_ids = list(seller_ids)
    if not seller_ids:
        return 0
    at = at or timezone.now()
    sellers = Ids(seller_ids)
    offered: dict[int, int] = defaultdict(int)
    all_purposes = list(Purpose.values)
    with_profile = []
    for seller_id, optin, active in SellerProfile.objects.filter(seller_id__any=sellers).values_list(
        "seller_id", "audience_optin_mask", "seller__is_active"
    ):
        with_profile.append(seller_id)
        if active:  # a deactivated (suspended, erased) seller offers nothing
            offered[seller_id] |= taxonomy.pairs_mask(
                taxonomy.codes_of(optin, taxonomy.CATEGORY_CODES), all_purposes
            )
    for seller_id, categories, purposes in Listing.objects.filter(
        seller_id__any=sellers, status=Listing.Status.ACTIVE, seller__is_active=True
    ).values_list("seller_id", "categories_mask", "purposes_mask"):
        offered[seller_id] |= taxonomy.pairs_mask(
            taxonomy.codes_of(categories, taxonomy.CATEGORY_CODES),
            taxonomy.codes_of(purposes, taxonomy.PURPOSE_CODES),
        )
    sellable: dict[int, int] = defaultdict(int)
    until: dict[int, datetime] = {}
    for seller_id, category, purpose, expires_at in (
        ConsentGrant.objects.filter(seller_id__any=sellers, status=ConsentGrant.Status.ACTIVE)
        .filter(consent_valid_q(at))
        .values_list("seller_id", "category", "purpose", "expires_at")
    ):
        bit = taxonomy.pair_bit(category, purpose)
        if offered[seller_id] & bit:
            sellable[seller_id] |= bit
            until[seller_id] = min(until.get(seller_id, expires_at), expires_at)
    profiles = [
        SellerProfile(
            seller_id=seller_id, sellable_mask=sellable[seller_id], sellable_until=until.get(seller_id)
        )
        for seller_id in with_profile
    ]
    SellerProfile.objects.bulk_update(profiles, ["sellable_mask", "sellable_until"], batch_size=500)
    return len(profiles)


def audience_optin_update(
    *, seller: User, categories: list[str], explicit_sensitive: bool = False
) -> SellerProfile:
    """Which categories the seller offers to audience bundles; sensitive ones need their own box."""
    for category in categories:
        if category not in DataCategory.values:
            raise InvalidInput(
                "category_unknown", f"{category!r} is not a data category.", field="categories"
            )
    if any(c in SENSITIVE_CATEGORIES for c in categories) and not explicit_sensitive:
        raise InvalidInput(
            "explicit_consent_required",
            "Life events join audience bundles only by their own opt-in.",
            field="explicit_sensitive",
        )
    with transaction.atomic(durable=True):
        profile = account_locks.seller_profile(seller)
        profile.audience_optin_mask = taxonomy.mask_of(categories, taxonomy.CATEGORY_CODES)
        profile.save(update_fields=["audience_optin_mask", "updated_at"])
        audience_refresh(seller_ids=[seller.pk])
        profile.refresh_from_db()
    return profile
