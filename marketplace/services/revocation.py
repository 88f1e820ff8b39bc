"""Revocation reaches buyers: the consent hook cancels bids, voids trade lines and revokes access
(with deletion notices, marketplace.services.access)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import cast

from accounts import taxonomy
from accounts.hooks import CONSENT_ENDING_REASONS, ConsentChange
from core.db import Ids
from listings.models import Listing
from marketplace import lock_objects
from marketplace.models import AccessGrant, Bid, Trade, TradeLine
from marketplace.services._common import _bid_transition
from marketplace.services.access import access_revoke, trade_lines_transition


def on_consent_change(changes: Sequence[ConsentChange], reason: str) -> None:
    """Registered with accounts.hooks at stage MARKETPLACE: runs in the consent transaction after listings' handler.

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
        listing = cast(Listing, bid.listing)  # selected by its listing's seller
        if hit(listing.seller_id, listing.categories_mask, listing.purposes):
            _bid_transition(bid, Bid.Status.CANCELLED, f"seller consent {reason}")

    lines = lock_objects.trade_lines(
        TradeLine.objects.filter(
            seller_id__any=sellers, status=TradeLine.Status.PENDING, trade__status__in=Trade.UNSETTLED
        ).select_related("trade")
    )
    trade_lines_transition(
        [line for line in lines if hit(line.seller_id, line.categories_mask, [line.trade.purpose])],
        TradeLine.Status.VOIDED,
        reason=f"consent {reason}",
    )

    grants = lock_objects.access_grants(
        AccessGrant.objects.filter(seller_id__any=sellers, status=AccessGrant.Status.ACTIVE)
    )
    access_revoke(
        [grant for grant in grants if hit(grant.seller_id, grant.categories_mask, [grant.purpose])],
        reason=f"consent {reason}",
        notice_reason=reason,
    )
