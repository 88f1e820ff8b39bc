"""Every write to the marketplace: bids, auction close, audience clearing, trades, access
grants, revocation reaching buyers, deletion notices. Settlement is in marketplace.settlement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, Value
from django.utils import timezone

from accounts import taxonomy
from accounts.errors import Conflict, Forbidden, InvalidInput, NotFound
from accounts.hooks import CONSENT_ENDING_REASONS, ConsentChange
from accounts.models import BuyerOrganisation
from config.lookups import Ids
from listings import services as listing_services
from listings.models import Listing
from listings.selectors import SegmentCriteria, segment_members
from listings.valuation import SCARCITY_ATTRIBUTE, category_valuation
from marketplace import lock_objects, payments_port
from marketplace.models import (
    AccessGrant,
    Bid,
    BidEvent,
    DeletionNotice,
    Trade,
    TradeEvent,
    TradeLine,
)

MAX_BID_CENTS = 100_000_00
MAX_AUDIENCE_RECORDS = 100_000
MAX_AUDIENCE_BID_DAYS = 30


def _check_buyer(organisation: BuyerOrganisation) -> None:
    """A bid commits the buyer to pay: verified, with a saved payment method, before anything
    changes (a buyer without a card could otherwise take listings off the market)."""
    if not organisation.is_verified:
        raise Forbidden("organisation_not_verified", "Only verified organisations may bid.")
    if not payments_port.has_payment_method(organisation_id=organisation.pk):
        raise InvalidInput(
            "payment_method_required",
            "Save a payment method first (POST /api/v1/payment-methods/): bids and purchases are "
            "paid by card.",
        )


def _check_amount(amount_cents: int, field: str = "amount_cents") -> None:
    if (
        not isinstance(amount_cents, int)
        or isinstance(amount_cents, bool)
        or not 0 < amount_cents <= MAX_BID_CENTS
    ):
        raise InvalidInput("amount_invalid", "Amounts are whole cents between 1 and 10,000,000.", field=field)


def _bid_transition(bid: Bid, to_status: str, reason: str = "") -> None:
    """Requires: the bid locked (or just created) in the current transaction."""
    if to_status not in Bid.TRANSITIONS[bid.status]:
        raise Conflict("bid_not_open", f"This bid is {bid.status}.")
    BidEvent.objects.create(
        bid=bid, from_status=bid.status, to_status=to_status, amount_cents=bid.amount_cents, reason=reason
    )
    bid.status, bid.status_reason = to_status, reason
    bid.save(update_fields=["status", "status_reason"])


def trade_transition(trade: Trade, to_status: str, reason: str = "") -> None:
    """The one way a trade's status changes. Requires: the trade locked in this transaction."""
    trades_transition([trade], to_status, reason)


def trades_transition(trades: list[Trade], to_status: str, reason: str = "") -> None:
    """`trade_transition` for many locked trades: every one checked, then one UPDATE and one
    INSERT of their events (settlement moves whole batches)."""
    for trade in trades:
        if to_status not in Trade.TRANSITIONS[trade.status]:
            raise Conflict(
                "trade_transition_not_allowed", f"A {trade.status} trade cannot become {to_status}."
            )
    if not trades:
        return
    now = timezone.now()
    TradeEvent.objects.bulk_create(
        TradeEvent(trade=trade, from_status=trade.status, to_status=to_status, reason=reason, occurred_at=now)
        for trade in trades
    )
    Trade.objects.filter(pk__in=[trade.pk for trade in trades]).update(
        status=to_status, status_reason=reason, updated_at=now
    )
    for trade in trades:
        trade.status, trade.status_reason, trade.updated_at = to_status, reason, now
    if to_status in Trade.FAILED:
        listing_ids = sorted({t.listing_id for t in trades if t.listing_id is not None})
        if listing_ids:  # after commit, in the system's lock order (the sweep catches a crash)
            transaction.on_commit(lambda: listings_release(listing_ids=listing_ids))


def _trade_create(
    bid: Bid, *, price_per_record: int, sellers: list[tuple[int, int]], listing: Listing | None
) -> Trade:
    """A trade in pending_payment with one line per (seller id, categories mask); settled by workers."""
    from marketplace.tasks import trades_settle

    trade = Trade.objects.create(
        organisation_id=bid.organisation_id,
        bid=bid,
        listing=listing,
        purpose=bid.purpose,
        licence_days=bid.licence_days,
        price_per_record_cents=price_per_record,
        currency=bid.currency,
        fee_bps=settings.PLATFORM_FEE_BPS,
    )
    TradeLine.objects.bulk_create(
        TradeLine(trade=trade, seller_id=seller_id, categories_mask=mask, price_cents=price_per_record)
        for seller_id, mask in sellers
    )
    TradeEvent.objects.create(
        trade=trade, from_status="", to_status=Trade.Status.PENDING_PAYMENT, reason="created"
    )
    trades_settle.delay_on_commit([trade.pk])
    return trade


# ---------------------------------------------------------------------------------------------
# Bids on listings
# ---------------------------------------------------------------------------------------------


def bid_place(
    *,
    organisation: BuyerOrganisation,
    listing_public_id,
    amount_cents: int | None = None,
    purpose: str | None = None,
) -> Bid:
    """Buy a fixed-price listing now (a trade at once), or place a sealed bid on an auction.

    `purpose` is one of the listing's purposes (default: its first); the licence covers only it.
    """
    _check_buyer(organisation)
    if amount_cents is not None:
        _check_amount(amount_cents)
    with transaction.atomic(durable=True):
        now = timezone.now()
        found = lock_objects.listing_for_bid(listing_public_id, now)
        if found is None:
            raise NotFound("listing_not_found", "No such listing.")
        listing, consented, seller_organisation_id = found
        if listing.status != Listing.Status.ACTIVE:
            raise Conflict("listing_not_open", "This listing is not open for bids.")
        if purpose is not None and purpose not in listing.purposes:
            raise InvalidInput(
                "purpose_not_offered",
                f"This listing is offered for: {', '.join(listing.purposes)}.",
                field="purpose",
            )
        _check_seller_side(listing, organisation, consented, seller_organisation_id)
        common = {
            "organisation": organisation,
            "listing": listing,
            "purpose": purpose or listing.purposes[0],
            "licence_days": listing.licence_days,
            "currency": listing.currency,
            "amount_set_at": now,
            "created_at": now,
        }
        if listing.pricing_mode == Listing.PricingMode.FIXED:
            if amount_cents is not None and amount_cents != listing.floor_price_cents:
                raise InvalidInput(
                    "price_mismatch", "Buy now pays exactly the listed price.", field="amount_cents"
                )
            bid = _bid_insert(Bid(kind=Bid.Kind.BUY_NOW, amount_cents=listing.floor_price_cents, **common))
            _bid_transition(bid, Bid.Status.WON, "bought now")
            listing_services.listing_hold_locked(listing, reason="bought now: payment in progress")
            _trade_create(
                bid,
                price_per_record=listing.floor_price_cents,
                sellers=[(listing.seller_id, listing.categories_mask)],
                listing=listing,
            )
            return bid
        if now >= listing.auction_ends_at:
            raise Conflict("auction_closed", "This auction has ended.")
        if amount_cents is None:
            raise InvalidInput("amount_required", "A sealed bid needs an amount.", field="amount_cents")
        if amount_cents < listing.floor_price_cents:
            raise InvalidInput(
                "below_floor", "Bids start at the listing's floor price.", field="amount_cents"
            )
        try:
            # no savepoint: on a duplicate the Conflict leaves and rolls back the whole transaction
            bid = _bid_insert(Bid(kind=Bid.Kind.AUCTION, amount_cents=amount_cents, **common))
        except IntegrityError:
            raise Conflict(
                "bid_exists", "Your organisation already has an open bid here: raise or cancel it."
            ) from None
    _no_trade_yet(bid)
    return bid


_BID_FIELDS = [field for field in Bid._meta.concrete_fields if not field.primary_key]
_BID_INSERT_SQL = """
WITH bid AS (
    INSERT INTO marketplace_bid ({columns}) VALUES ({values}) RETURNING id
), event AS (
    INSERT INTO marketplace_bidevent (bid_id, from_status, to_status, amount_cents, reason, occurred_at)
    SELECT id, '', %s, %s, '', %s FROM bid
)
SELECT id FROM bid
""".format(
    columns=", ".join(f'"{field.column}"' for field in _BID_FIELDS),
    values=", ".join(["%s"] * len(_BID_FIELDS)),
)


def _bid_insert(bid: Bid) -> Bid:
    """Insert a new open bid and its `open` event: one statement on PostgreSQL (the hot path of
    `make bench-bids`: a statement less to compile and send), two elsewhere."""
    if connection.vendor != "postgresql":
        bid.save(force_insert=True)
        BidEvent.objects.create(bid=bid, to_status=Bid.Status.OPEN, amount_cents=bid.amount_cents)
        return bid
    values = [field.get_db_prep_save(field.pre_save(bid, True), connection) for field in _BID_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(_BID_INSERT_SQL, [*values, Bid.Status.OPEN, bid.amount_cents, bid.created_at])
        (bid.pk,) = cursor.fetchone()
    bid._state.adding, bid._state.db = False, connection.alias
    return bid


def _no_trade_yet(bid: Bid) -> None:
    """Record that an open bid has no trade, so reading bid.trade costs no query."""
    Bid.trade.related.set_cached_value(bid, None)


def _check_seller_side(
    listing: Listing,
    organisation: BuyerOrganisation,
    consented: set[tuple[str, str]],
    seller_organisation_id: int | None,
) -> None:
    """Refuse a bid on a listing whose consent no longer holds now (listing_missing_consent's
    rule: every category x every purpose), or whose seller is a member of the organisation.

    `consented`: the seller's (category, purpose) pairs valid now, read with the listing's lock
    (lock_objects.listing_for_bid). A listing stays active up to a sweep interval after its
    consent expires; this closes that window. (Sellers have no organisation, a database
    constraint: the second rule is a guard should members ever sell.)
    """
    if any((c, p) not in consented for c in listing.categories for p in listing.purposes):
        raise Conflict("listing_not_open", "This listing is not open for bids.")
    if seller_organisation_id == organisation.pk:
        raise Forbidden("own_data", "An organisation cannot buy its own members' data.")


def _locked_own_open_bid(organisation: BuyerOrganisation, bid_public_id) -> tuple[Listing | None, Bid]:
    """Lock (listing, then bid) one of the organisation's open bids; 404 for anyone else's.

    Requires: an open transaction. The listing is locked first (the system's lock order), so a
    raise or a cancel cannot slip past the auction close.
    """
    row = (
        Bid.objects.filter(public_id=bid_public_id, organisation=organisation)
        .values_list("pk", "listing_id")
        .first()
    )
    if row is None:
        raise NotFound("bid_not_found", "No such bid.")
    bid_id, listing_id = row
    listing = None
    if listing_id is not None:
        listing = Listing.objects.select_for_update(of=("self",)).get(pk=listing_id)
    (bid,) = lock_objects.bids(Bid.objects.filter(pk=bid_id))
    if bid.status != Bid.Status.OPEN:
        raise Conflict("bid_not_open", f"This bid is {bid.status}.")
    _no_trade_yet(bid)
    if listing is not None and (
        listing.status != Listing.Status.ACTIVE
        or (listing.auction_ends_at is not None and timezone.now() >= listing.auction_ends_at)
    ):
        raise Conflict("auction_closed", "This auction has ended.")
    return listing, bid


def bid_raise(*, organisation: BuyerOrganisation, bid_public_id, amount_cents: int) -> Bid:
    _check_amount(amount_cents)
    with transaction.atomic(durable=True):
        _listing, bid = _locked_own_open_bid(organisation, bid_public_id)
        if bid.kind != Bid.Kind.AUCTION:
            raise Conflict("not_an_auction_bid", "Only auction bids can be raised.")
        if amount_cents <= bid.amount_cents:
            raise InvalidInput(
                "raise_too_low", "A raise must be above your current bid.", field="amount_cents"
            )
        bid.amount_cents, bid.amount_set_at = amount_cents, timezone.now()
        bid.save(update_fields=["amount_cents", "amount_set_at"])
        BidEvent.objects.create(
            bid=bid, from_status=bid.status, to_status=bid.status, amount_cents=amount_cents, reason="raised"
        )
    return bid


def bid_cancel(*, organisation: BuyerOrganisation, bid_public_id) -> Bid:
    with transaction.atomic(durable=True):
        _listing, bid = _locked_own_open_bid(organisation, bid_public_id)
        _bid_transition(bid, Bid.Status.CANCELLED, "cancelled by the buyer")
    return bid


def auctions_close_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Close every auction whose end has passed: the highest bid at or above the floor wins and
    pays the second-highest bid or the floor, whichever is higher; ties go to the earlier bid."""
    now = now or timezone.now()
    closed = 0
    while True:
        due = list(
            Listing.objects.filter(
                status=Listing.Status.ACTIVE,
                pricing_mode=Listing.PricingMode.AUCTION,
                auction_ends_at__lte=now,
            )
            .order_by("auction_ends_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        for listing_id in due:
            closed += _auction_close(listing_id, now)
        if len(due) < batch_size:
            return closed


def _auction_close(listing_id: int, now: datetime) -> int:
    with transaction.atomic(durable=True):
        listing = (
            Listing.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk=listing_id, status=Listing.Status.ACTIVE, auction_ends_at__lte=now)
            .first()
        )
        if listing is None:
            return 0  # another worker has it, or it is already closed
        bids = lock_objects.bids(Bid.objects.filter(listing=listing, status=Bid.Status.OPEN))
        ranked = sorted(bids, key=lambda b: (-b.amount_cents, b.amount_set_at, b.pk))
        eligible = [b for b in ranked if b.amount_cents >= listing.floor_price_cents]
        if not eligible or listing_services.listing_missing_consent(listing, now):
            for bid in bids:
                _bid_transition(bid, Bid.Status.LOST, "auction ended without a sale")
            listing_services.listing_expire_locked(listing, reason="auction ended without a winning bid")
            return 1
        winner = eligible[0]
        price = max(eligible[1].amount_cents if len(eligible) > 1 else 0, listing.floor_price_cents)
        _bid_transition(winner, Bid.Status.WON, f"won at {price} cents")
        for bid in ranked[1:]:
            _bid_transition(bid, Bid.Status.LOST, "outbid")
        listing_services.listing_hold_locked(listing, reason="auction won: payment in progress")
        _trade_create(
            winner,
            price_per_record=price,
            sellers=[(listing.seller_id, listing.categories_mask)],
            listing=listing,
        )
    return 1


# ---------------------------------------------------------------------------------------------
# Held listings whose sale failed
# ---------------------------------------------------------------------------------------------


def listings_release(*, listing_ids: Sequence[int] | None = None) -> int:
    """Held listings whose every trade failed (payment failed, or voided) go back to their
    seller's market: an auction is first offered to the next eligible bidder at their own price.
    Runs after a trade fails, and from the settlement sweep (a crash in between loses nothing).
    Returns how many listings were released or offered on."""
    held = Listing.objects.filter(status=Listing.Status.HELD).exclude(
        trades__status__in=[s for s in Trade.Status.values if s not in Trade.FAILED]
    )
    if listing_ids is not None:
        held = held.filter(pk__in=listing_ids)
    return sum(_listing_release(listing_id) for listing_id in held.values_list("pk", flat=True))


def _next_bid(listing: Listing, bids: list[Bid]) -> Bid | None:
    """The best losing bid at or above the floor whose organisation has not failed to pay for
    this listing and may still pay (verified, with a payment method)."""
    failed = set(
        Trade.objects.filter(listing=listing, status__in=Trade.FAILED).values_list(
            "organisation_id", flat=True
        )
    )
    ranked = sorted(bids, key=lambda b: (-b.amount_cents, b.amount_set_at, b.pk))
    for bid in ranked:
        if bid.status != Bid.Status.LOST or bid.amount_cents < listing.floor_price_cents:
            continue
        if bid.organisation_id in failed or not bid.organisation.is_verified:
            continue
        if payments_port.has_payment_method(organisation_id=bid.organisation_id):
            return bid
    return None


def _listing_release(listing_id: int) -> int:
    with transaction.atomic(durable=True):
        seller_id = Listing.objects.filter(pk=listing_id).values_list("seller_id", flat=True).first()
        lock_objects.consent_grants_of_sellers([seller_id])
        listing = Listing.objects.select_for_update(of=("self",)).filter(pk=listing_id).first()
        if listing is None or listing.status != Listing.Status.HELD:
            return 0
        if Trade.objects.filter(listing=listing).exclude(status__in=Trade.FAILED).exists():
            return 0  # a trade is still paying for it
        if (
            listing.pricing_mode == Listing.PricingMode.AUCTION
            and not listing_services.listing_missing_consent(listing)
        ):
            bids = lock_objects.bids(Bid.objects.filter(listing=listing).select_related("organisation"))
            bid = _next_bid(listing, bids)
            if bid is not None:
                _bid_transition(bid, Bid.Status.WON, "offered after the winner's payment failed")
                _trade_create(
                    bid,
                    price_per_record=bid.amount_cents,
                    sellers=[(listing.seller_id, listing.categories_mask)],
                    listing=listing,
                )
                return 1
        listing_services.listing_release_locked(
            listing, reason="the buyer's payment failed", auction_hours=settings.AUCTION_RELIST_HOURS
        )
    return 1


# ---------------------------------------------------------------------------------------------
# Audience bundles
# ---------------------------------------------------------------------------------------------


def _check_criteria(criteria: SegmentCriteria) -> None:
    if not criteria.categories:
        raise InvalidInput("categories_required", "Name at least one data category.", field="criteria")
    unknown = [c for c in criteria.categories if c not in taxonomy.CATEGORY_CODES]
    if unknown:
        raise InvalidInput("category_unknown", f"{unknown[0]!r} is not a data category.", field="criteria")
    if criteria.purpose not in taxonomy.PURPOSE_CODES:
        raise InvalidInput("purpose_unknown", f"{criteria.purpose!r} is not a purpose.", field="criteria")
    if criteria.licence_days not in taxonomy.LICENCE_DAYS:
        raise InvalidInput(
            "licence_days_invalid", "Choose a licence of 30, 90 or 365 days.", field="criteria"
        )


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

        audience_bid_clear.delay_on_commit(bid.pk)
    return bid


def _mask_and(field_name: str, mask: int) -> ExpressionWrapper:
    return ExpressionWrapper(
        F(field_name).bitand(Value(mask, output_field=BigIntegerField())), output_field=BigIntegerField()
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
    members = list(members.order_by("pk"))
    by_listing: dict[int, int] = {}
    for seller_id, categories, purposes, floor in Listing.objects.filter(
        seller_id__in=[m.pk for m in members],
        status=Listing.Status.ACTIVE,
        licence_days__gte=criteria.licence_days,  # a floor asked for a shorter licence says nothing
    ).values_list("seller_id", "categories_mask", "purposes_mask", "floor_price_cents"):
        if categories & wanted == wanted and purposes & purpose_bit:
            by_listing[seller_id] = min(floor, by_listing.get(seller_id, floor))
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
    for profile in members:
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
    bid = Bid.objects.filter(
        pk=bid_id, kind=Bid.Kind.AUDIENCE, status=Bid.Status.OPEN, expires_at__gt=timezone.now()
    ).first()
    if bid is None:
        return None
    criteria = SegmentCriteria(**bid.criteria)

    def select(seller_ids: list[int] | None = None) -> list[tuple[int, int, int]]:
        floors = _audience_floors(criteria, timezone.now(), seller_ids)
        return [f for f in floors if f[0] <= bid.amount_cents][: bid.max_records]

    selected = select()
    if len(selected) < k:
        return None
    with transaction.atomic(durable=True):
        # a revocation of any selected seller's consent now waits for us, or we see it below
        lock_objects.consent_grants_of_sellers([seller_id for _f, seller_id, _m in selected])
        (bid,) = lock_objects.bids(Bid.objects.filter(pk=bid_id))
        if bid.status != Bid.Status.OPEN or bid.expires_at <= timezone.now():
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


# ---------------------------------------------------------------------------------------------
# Revocation reaches buyers
# ---------------------------------------------------------------------------------------------


def on_consent_change(changes: Sequence[ConsentChange], reason: str) -> None:
    """Registered with accounts.hooks; runs in the consent transaction after listings' handler.

    When consent for a category × purpose ends: open bids on the seller's listings that need it
    are cancelled, unsettled trade lines for it voided, access grants to it revoked, and one
    deletion notice is created per buyer organisation that received the data.
    """
    if reason not in CONSENT_ENDING_REASONS:
        return
    ended: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for change in changes:
        ended[change.seller_id].add((change.category, change.purpose))
    sellers = Ids(ended)

    def hit(seller_id: int, categories_mask: int, purposes: list[str]) -> bool:
        categories = taxonomy.codes_of(categories_mask, taxonomy.CATEGORY_CODES)
        return any((c, p) in ended[seller_id] for c in categories for p in purposes)

    open_bids = lock_objects.bids(
        Bid.objects.filter(listing__seller_id__any=sellers, status=Bid.Status.OPEN).select_related("listing")
    )
    for bid in open_bids:
        if hit(bid.listing.seller_id, bid.listing.categories_mask, bid.listing.purposes):
            _bid_transition(bid, Bid.Status.CANCELLED, f"seller consent {reason}")

    lines = lock_objects.trade_lines(
        TradeLine.objects.filter(
            seller_id__any=sellers, status=TradeLine.Status.PENDING, trade__status__in=Trade.UNSETTLED
        ).select_related("trade")
    )
    for line in lines:
        if hit(line.seller_id, line.categories_mask, [line.trade.purpose]):
            line.status, line.status_reason = TradeLine.Status.VOIDED, f"consent {reason}"
            line.save(update_fields=["status", "status_reason"])

    now = timezone.now()
    grants = lock_objects.access_grants(
        AccessGrant.objects.filter(seller_id__any=sellers, status=AccessGrant.Status.ACTIVE)
    )
    notices: dict[tuple[int, int], int] = defaultdict(int)
    for grant in grants:
        if hit(grant.seller_id, grant.categories_mask, [grant.purpose]):
            grant.status, grant.revoked_at, grant.revoked_reason = (
                AccessGrant.Status.REVOKED,
                now,
                f"consent {reason}",
            )
            grant.save(update_fields=["status", "revoked_at", "revoked_reason"])
            notices[(grant.organisation_id, grant.seller_id)] |= grant.categories_mask
    DeletionNotice.objects.bulk_create(
        DeletionNotice(
            organisation_id=organisation_id,
            seller_id=seller_id,
            categories_mask=mask,
            reason=reason,
            created_at=now,
            deadline=now + timedelta(days=settings.DELETION_NOTICE_DAYS),
        )
        for (organisation_id, seller_id), mask in sorted(notices.items())
    )


def deletion_notice_acknowledge(*, organisation: BuyerOrganisation, notice_public_id) -> DeletionNotice:
    with transaction.atomic(durable=True):
        notice = (
            DeletionNotice.objects.select_for_update()
            .filter(public_id=notice_public_id, organisation=organisation)
            .first()
        )
        if notice is None:
            raise NotFound("notice_not_found", "No such deletion notice.")
        if notice.status == DeletionNotice.Status.ACKNOWLEDGED:
            raise Conflict("already_acknowledged", "This notice was already acknowledged.")
        notice.status, notice.acknowledged_at = DeletionNotice.Status.ACKNOWLEDGED, timezone.now()
        notice.save(update_fields=["status", "acknowledged_at"])
    return notice


def deletion_notices_flag_overdue(*, now: datetime | None = None) -> int:
    """Notices past their deadline become overdue (moderators follow them in the admin)."""
    return DeletionNotice.objects.filter(
        status=DeletionNotice.Status.SENT, deadline__lt=now or timezone.now()
    ).update(status=DeletionNotice.Status.OVERDUE)


def access_grants_expire(*, now: datetime | None = None) -> int:
    """Licences past their end: active → expired (set-based; reads already check ends_at)."""
    return AccessGrant.objects.filter(
        status=AccessGrant.Status.ACTIVE, ends_at__lte=now or timezone.now()
    ).update(status=AccessGrant.Status.EXPIRED)
