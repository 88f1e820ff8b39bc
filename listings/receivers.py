"""How listings follow the seller's consent and suspension: the handlers accounts.hooks calls at
stage LISTINGS, inside the consent or suspension transaction (registered in listings.apps)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from accounts import taxonomy
from accounts.hooks import CONSENT_ENDING_REASONS, SUSPENDED_SELLER, ConsentChange
from accounts.models import SellerProfile
from core import audit
from core.db import Ids
from core.models import AuditEntry
from listings import lock_objects
from listings.models import Listing
from listings.services import _transition_locked, audience_refresh


def on_consent_change(changes: Sequence[ConsentChange], reason: str) -> None:
    """Registered with accounts.hooks at stage LISTINGS, before marketplace. Runs inside the consent
    transaction (grants locked).

    When consent ends, every live listing that needs the ended category × purpose is paused
    (withdrawn on erasure) in this same transaction, then the sellers' audience masks refresh.
    """
    seller_ids = sorted({change.seller_id for change in changes})
    if reason in CONSENT_ENDING_REASONS:
        entries: list[AuditEntry] = []  # one INSERT for every listing moved (the expiry sweep)
        sellers = Ids(seller_ids)
        ended: dict[int, int] = defaultdict(int)
        for change in changes:
            ended[change.seller_id] |= taxonomy.pair_bit(change.category, change.purpose)
        live = lock_objects.listings(
            Listing.objects.filter(
                seller_id__any=sellers,
                status__in=[Listing.Status.DRAFT, Listing.Status.PENDING_REVIEW, Listing.Status.ACTIVE],
            )
        )
        target = Listing.Status.WITHDRAWN if reason == "erasure" else Listing.Status.PAUSED
        for listing in live:
            needs = taxonomy.pairs_mask(listing.categories, listing.purposes)
            if needs & ended[listing.seller_id]:
                if listing.status == Listing.Status.DRAFT and target == Listing.Status.PAUSED:
                    continue  # a draft sells nothing; it will be checked again when submitted
                _transition_locked(
                    listing,
                    target,
                    actor=None,
                    reason=f"consent {reason}",
                    refresh=False,
                    audit_entries=entries,
                )
        if reason == "erasure":
            for listing in lock_objects.listings(
                Listing.objects.filter(
                    seller_id__any=sellers,
                    status__in=[
                        Listing.Status.PAUSED,
                        Listing.Status.DRAFT,
                        Listing.Status.SUSPENDED,
                        Listing.Status.HELD,
                    ],
                )
            ):
                _transition_locked(
                    listing,
                    Listing.Status.WITHDRAWN,
                    actor=None,
                    reason="erasure",
                    refresh=False,
                    audit_entries=entries,
                )
        audit.write(entries)
        # only sellers whose audience offer depended on the ended consent need a refresh
        seller_ids = [
            seller_id
            for seller_id, mask in SellerProfile.objects.filter(
                seller_id__any=sellers, sellable_mask__gt=0
            ).values_list("seller_id", "sellable_mask")
            if mask & ended[seller_id]
        ]
    audience_refresh(seller_ids=seller_ids)


SUSPENSION_WITHDRAWS = (
    Listing.Status.DRAFT,
    Listing.Status.PENDING_REVIEW,
    Listing.Status.ACTIVE,
    Listing.Status.PAUSED,
    Listing.Status.SUSPENDED,
)


def on_suspension(kind: str, subject_id: int, reason: str) -> None:
    """Registered with accounts.hooks at stage LISTINGS: a suspended seller's listings are
    withdrawn in the suspension's transaction (a held one, whose payment is in progress, is
    withdrawn when released: its seller is no longer active). Reinstating does not relist.

    Requires: the seller's consent grants locked (accounts.services.user_suspend)."""
    if kind != SUSPENDED_SELLER:
        return
    for listing in lock_objects.listings(
        Listing.objects.filter(seller_id=subject_id, status__in=SUSPENSION_WITHDRAWS)
    ):
        _transition_locked(
            listing,
            Listing.Status.WITHDRAWN,
            actor=None,
            reason=f"seller suspended: {reason}"[:200],
            refresh=False,
        )
    audience_refresh(seller_ids=[subject_id])
