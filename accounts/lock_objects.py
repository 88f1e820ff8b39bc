"""Row locks for accounts. Consent grants come first in the system's lock order (core.locks):
every transaction that relies on a seller's consent, or ends it, locks the grants before
anything that depends on them. Every helper goes through `core.locks.lock_rows` (pk order, own
table only, evaluated)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from accounts.models import BuyerOrganisation, ConsentGrant, SellerDataKey, SellerProfile, User
from core.locks import claim_rows, lock_row, lock_rows


def consent_grants_active_of_sellers(seller_ids: Iterable[int]) -> list[ConsentGrant]:
    """The sellers' active grants: what a revocation, a delivery or a sale of their data waits on."""
    return lock_rows(
        ConsentGrant.objects.filter(seller_id__in=sorted(set(seller_ids)), status=ConsentGrant.Status.ACTIVE)
    )


def consent_grant_of_seller(*, seller: User, grant_id: int) -> ConsentGrant | None:
    return lock_row(ConsentGrant.objects.filter(pk=grant_id, seller=seller))


def consent_grants_due_of_pair(
    *, seller: User, category: str, purpose: str, now: datetime
) -> list[ConsentGrant]:
    """The seller's grants of one pair still active past their window (the sweep not yet run)."""
    return lock_rows(
        ConsentGrant.objects.filter(
            seller=seller,
            category=category,
            purpose=purpose,
            status=ConsentGrant.Status.ACTIVE,
            expires_at__lte=now,
        )
    )


def user(user_id: int) -> User:
    locked = lock_row(User.objects.filter(pk=user_id))
    if locked is None:
        raise User.DoesNotExist(f"no user {user_id}")
    return locked


def seller_profile(seller: User) -> SellerProfile:
    locked = lock_row(SellerProfile.objects.filter(seller=seller))
    if locked is None:
        raise SellerProfile.DoesNotExist(f"no profile for seller {seller.pk}")
    return locked


def buyer_organisation(organisation_id: int) -> BuyerOrganisation | None:
    return lock_row(BuyerOrganisation.objects.filter(pk=organisation_id))


def seller_data_keys_to_rewrap(*, after_pk: int, limit: int) -> list[SellerDataKey]:
    """Claim the next wrapped keys after `after_pk`, in pk order; keys another worker holds are skipped."""
    return claim_rows(SellerDataKey.objects.filter(pk__gt=after_pk, wrapped_key__isnull=False), limit=limit)
