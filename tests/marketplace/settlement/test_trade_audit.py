"""A trade settled by the workers leaves its moves in the audit trail, as the platform's."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from marketplace import services
from marketplace.models import Trade, TradeLine
from tests.marketplace.conftest import active_listing
from tests.marketplace.settlement.conftest import settle_trade

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_trade_settled_by_the_worker_is_audited_as_the_platforms(buyer):
    listing = active_listing(pricing_mode="fixed", floor=2000)
    trade = Trade.objects.get(bid=services.bid_place(organisation=buyer, listing_public_id=listing.public_id))

    assert settle_trade(trade.pk) == Trade.Status.SETTLED

    entries = AuditEntry.objects.filter(target_type="marketplace.trade", target_id=str(trade.pk))
    assert list(entries.order_by("id").values_list("action", flat=True)) == [
        "trade.created",
        "trade.paid",
        "trade.delivered",
        "trade.settled",
    ]
    settled = entries.get(action="trade.settled")
    assert settled.actor is None and settled.actor_role == AuditEntry.SYSTEM
    assert settled.changes == {"status": ["delivered", "settled"]}
    assert settled.reason == "captured and credited"
    assert settled.target_repr == f"trade {trade.public_id} (settled)"
    line = TradeLine.objects.get(trade=trade)
    delivered = AuditEntry.objects.get(target_type="marketplace.tradeline", target_id=str(line.pk))
    assert delivered.action == "trade_line.delivered" and delivered.actor_role == AuditEntry.SYSTEM
    sold = AuditEntry.objects.get(
        target_type="listings.listing", target_id=str(listing.pk), action="listing.sold"
    )
    assert sold.changes == {"status": ["held", "sold"]} and sold.actor_role == AuditEntry.SYSTEM
