"""Every write to the marketplace, one module per domain, re-exported here:
`from marketplace import services`.

bids (bids on listings, trade transitions), auctions (auction close, held listings whose sale
failed), audience (audience-bundle bids and clearing), revocation (consent hook, deletion
notices, access grant expiry). Settlement is in marketplace.settlement.
"""

from marketplace.services._common import MAX_BID_CENTS  # the one public name there
from marketplace.services.auctions import auctions_close_due, listings_release
from marketplace.services.audience import (
    MAX_AUDIENCE_BID_DAYS,
    MAX_AUDIENCE_RECORDS,
    audience_bid_clear,
    audience_bid_place,
    audience_bids_sweep,
)
from marketplace.services.bids import bid_cancel, bid_place, bid_raise, trade_transition, trades_transition
from marketplace.services.revocation import (
    access_grants_expire,
    deletion_notice_acknowledge,
    deletion_notices_flag_overdue,
    on_consent_change,
)

__all__ = [
    # bids
    "MAX_BID_CENTS",
    "bid_cancel",
    "bid_place",
    "bid_raise",
    "trade_transition",
    "trades_transition",
    # auctions
    "auctions_close_due",
    "listings_release",
    # audience
    "MAX_AUDIENCE_BID_DAYS",
    "MAX_AUDIENCE_RECORDS",
    "audience_bid_clear",
    "audience_bid_place",
    "audience_bids_sweep",
    # revocation
    "access_grants_expire",
    "deletion_notice_acknowledge",
    "deletion_notices_flag_overdue",
    "on_consent_change",
]
