"""A seller with a sales history, built set-based (a handful of bulk inserts whatever the count),
for the seller pages' tests: settled trades from several buyers spread over the last months,
their access grants and reads, and deletion notices in every state.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts import taxonomy
from accounts.models import BuyerOrganisation, User
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice, Trade, TradeLine
from tests.factories import PayingOrganisationFactory
from tests.marketplace.conftest import active_listing

FEE_BPS = 2_000
MASKS = (
    taxonomy.mask_of(["demographics", "location"], taxonomy.CATEGORY_CODES),
    taxonomy.mask_of(["demographics"], taxonomy.CATEGORY_CODES),
)


def seller_with_sales(
    trades: int, *, seller: User | None = None, buyers: list[BuyerOrganisation] | None = None
) -> tuple[User, list[BuyerOrganisation]]:
    """`trades` settled trades of 150 cents (120 for the seller after the 20 % fee) on one listing
    of the seller, bought in turn by each buyer, one a day back from now; one read per grant;
    per buyer, one deletion notice sent, one acknowledged, one overdue."""
    listing = active_listing(pricing_mode="fixed", **({"seller": seller} if seller else {}))
    seller = listing.seller
    buyers = buyers or [
        PayingOrganisationFactory(legal_name="Annonces Lumière SAS"),
        PayingOrganisationFactory(legal_name="Brume Analytics SARL"),
    ]
    now = timezone.now()
    sold_at = [now - timedelta(days=i, minutes=5) for i in range(trades)]
    bids = Bid.objects.bulk_create(
        Bid(
            organisation=buyers[i % len(buyers)],
            kind=Bid.Kind.BUY_NOW,
            listing=listing,
            amount_cents=150,
            purpose=taxonomy.Purpose.TARGETED_ADVERTISING,
            licence_days=30,
            status=Bid.Status.WON,
            created_at=sold_at[i],
        )
        for i in range(trades)
    )
    made = Trade.objects.bulk_create(
        Trade(
            organisation_id=bid.organisation_id,
            bid=bid,
            listing=listing,
            purpose=bid.purpose,
            licence_days=30,
            price_per_record_cents=150,
            fee_bps=FEE_BPS,
            status=Trade.Status.SETTLED,
            charged_cents=150,
            created_at=bid.created_at,
            updated_at=bid.created_at,
        )
        for bid in bids
    )
    lines = TradeLine.objects.bulk_create(
        TradeLine(
            trade=trade,
            seller=seller,
            categories_mask=MASKS[i % len(MASKS)],
            price_cents=150,
            status=TradeLine.Status.DELIVERED,
        )
        for i, trade in enumerate(made)
    )
    grants = AccessGrant.objects.bulk_create(
        AccessGrant(
            organisation_id=line.trade.organisation_id,
            seller=seller,
            trade_line=line,
            categories_mask=line.categories_mask,
            purpose=line.trade.purpose,
            starts_at=line.trade.created_at,
            ends_at=line.trade.created_at + timedelta(days=30),
        )
        for line in lines
    )
    AccessGrant.objects.filter(pk__in=[g.pk for g in grants], ends_at__lte=now).update(status="expired")
    AccessLog.objects.bulk_create(
        AccessLog(grant=grant, read_at=grant.starts_at + timedelta(hours=1)) for grant in grants
    )
    DeletionNotice.objects.bulk_create(
        DeletionNotice(
            organisation=buyer,
            seller=seller,
            categories_mask=MASKS[1],
            reason="revoked",
            deadline=now + deadline,
            status=status,
            acknowledged_at=now if status == DeletionNotice.Status.ACKNOWLEDGED else None,
        )
        for buyer in buyers
        for status, deadline in (
            (DeletionNotice.Status.SENT, timedelta(days=20)),
            (DeletionNotice.Status.ACKNOWLEDGED, timedelta(days=20)),
            (DeletionNotice.Status.OVERDUE, -timedelta(days=1)),
        )
    )
    return seller, buyers
