"""Private helpers shared by the marketplace services modules: buyer and amount checks, bid transitions, trade creation."""

from __future__ import annotations

from django.conf import settings

from accounts.models import BuyerOrganisation
from core import audit
from core.errors import Conflict, Forbidden, InvalidInput
from listings.models import Listing
from marketplace import payments_port, selectors, webhook_payloads
from marketplace.models import Bid, BidEvent, Trade, TradeEvent, TradeLine, WebhookEventType
from marketplace.services.webhooks import webhook_events_emit_for

MAX_BID_CENTS = 100_000_00


def _check_buyer(organisation: BuyerOrganisation) -> None:
    """A bid commits the buyer to pay: verified, up to date with its deletion notices, with a
    saved payment method, before anything changes (a buyer without a card could otherwise take
    listings off the market)."""
    _check_verified(organisation)
    _check_deletion_duty(selectors.deletion_notices_blocking_bids(organisation).count())
    _check_payment_method(payments_port.has_payment_method(organisation_id=organisation.pk))


def _check_verified(organisation: BuyerOrganisation) -> None:
    """Verified and not suspended by a moderator (accounts.services.organisation_suspend)."""
    if not organisation.is_verified:
        raise Forbidden("organisation_not_verified", "Only verified organisations may bid.")
    _check_not_suspended(organisation)


def _check_not_suspended(organisation: BuyerOrganisation) -> None:
    if organisation.is_suspended:
        raise Forbidden(
            "organisation_suspended",
            "Your organisation is suspended by a moderator: it cannot bid. Contact Courtier.",
        )


def _check_deletion_duty(overdue_notices: int) -> None:
    """`overdue_notices`: selectors.deletion_notices_blocking_bids of the bidding organisation,
    counted. Above DELETION_OVERDUE_BID_LIMIT the organisation may not bid until it acknowledges
    them or a moderator clears the block (deletion_duty_clear)."""
    if overdue_notices > settings.DELETION_OVERDUE_BID_LIMIT:
        raise Forbidden(
            "deletion_overdue",
            f"{overdue_notices} deletion notice{'s are' if overdue_notices != 1 else ' is'} overdue: delete "
            "the data, acknowledge each notice (GET /api/v1/deletion-notices/?status=overdue, then POST "
            ".../acknowledge/) and bid again; until then your organisation cannot bid.",
        )


def _deletion_duty_blocks(organisation: BuyerOrganisation) -> bool:
    """For the audience clearing of bids placed before the notices fell overdue."""
    overdue = selectors.deletion_notices_blocking_bids(organisation).count()
    return overdue > settings.DELETION_OVERDUE_BID_LIMIT


def _check_payment_method(has_payment_method: bool) -> None:
    """`has_payment_method`: payments_port.has_payment_method of the bidding organisation."""
    if not has_payment_method:
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
    audit.record(
        "trade.created",
        trade,
        changes={
            "status": ["", Trade.Status.PENDING_PAYMENT],
            "bid": str(bid.public_id),
            "listing": listing.pk if listing is not None else None,
            "records": len(sellers),
            "price_per_record_cents": price_per_record,
        },
    )
    trades_settle.delay_on_commit()  # type: ignore[attr-defined]  # a DjangoTask; stubs: Task
    # every transition to won is followed by this, so bid.won carries the trade's id
    webhook_events_emit_for(
        WebhookEventType.BID_WON, [bid.organisation_id], lambda: webhook_payloads.bids([bid.pk])
    )
    return trade
