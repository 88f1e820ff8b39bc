"""A suspension reaches the marketplace (issue 14): the hook accounts' suspension services call.

A suspended buyer organisation's open bids are cancelled, the lines it bought and was not yet
delivered voided (settlement checks suspension again at delivery), and its access grants revoked,
with one deletion notice per seller (the one builder, access.access_revoke). A suspended seller's open
bids on their (now withdrawn) listings are cancelled. Settled trades, payments and the ledger are never
touched: what was bought stays on the books.
"""

from __future__ import annotations

from accounts.hooks import SUSPENDED_ORGANISATION, SUSPENDED_SELLER
from listings import lock_objects as listing_locks
from listings.models import Listing
from marketplace import lock_objects
from marketplace.models import AccessGrant, Bid, Trade, TradeLine
from marketplace.services._common import _bid_transition
from marketplace.services.access import access_revoke, trade_lines_transition

# DeletionNotice.reason (16 characters at most), next to "revoked", "expired", "erasure", "refunded"…
NOTICE_REASON_SUSPENDED = "suspended"


def on_suspension(kind: str, subject_id: int, reason: str) -> None:
    """Registered with accounts.hooks at stage MARKETPLACE: runs in the suspension's transaction,
    after listings' handler. Locks in the system's order: listings, bids, access grants."""
    bid_reason = f"{'seller' if kind == SUSPENDED_SELLER else 'organisation'} suspended"
    if kind == SUSPENDED_SELLER:
        open_bids = Bid.objects.filter(listing__seller_id=subject_id, status=Bid.Status.OPEN)
    elif kind == SUSPENDED_ORGANISATION:
        open_bids = Bid.objects.filter(organisation_id=subject_id, status=Bid.Status.OPEN)
        listing_ids = open_bids.exclude(listing=None).values("listing_id")
        listing_locks.listings(Listing.objects.filter(pk__in=listing_ids))
    else:
        return
    for bid in lock_objects.bids(open_bids):
        _bid_transition(bid, Bid.Status.CANCELLED, bid_reason)
    if kind == SUSPENDED_ORGANISATION:
        # what it bought but was not yet delivered: voided (settlement releases the payment);
        # locking the lines first means a delivery under way finishes before the grants below
        # are read, so the grants it creates are revoked with the others
        lines = lock_objects.trade_lines(
            TradeLine.objects.filter(
                trade__organisation_id=subject_id,
                trade__status__in=Trade.UNSETTLED,
                status=TradeLine.Status.PENDING,
            )
        )
        trade_lines_transition(lines, TradeLine.Status.VOIDED, reason="organisation suspended")
        grants = lock_objects.access_grants(
            AccessGrant.objects.filter(organisation_id=subject_id, status=AccessGrant.Status.ACTIVE)
        )
        access_revoke(
            grants, reason=f"organisation suspended: {reason}"[:200], notice_reason=NOTICE_REASON_SUSPENDED
        )
