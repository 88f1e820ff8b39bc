"""GDPR erasure (Art. 17) of a seller account."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts import lock_objects
from accounts.models import LifeEvent, LoginSession, SellerDataKey, SellerProfile, User
from accounts.services.consent import _end_grants_locked
from core.errors import Conflict, Forbidden


def seller_erase(*, seller: User) -> User:
    """Erase a seller: consents revoked (with cascades), data key destroyed, precise values and
    attributes cleared, identity anonymised. Consent history stays, under the pseudonym."""
    with transaction.atomic(durable=True):
        now = timezone.now()
        grants = lock_objects.consent_grants_active_of_sellers([seller.pk])
        user = lock_objects.user(seller.pk)
        if user.erased_at is not None:
            raise Conflict("already_erased", "This account was already erased.")
        if user.role != User.Role.SELLER:
            raise Forbidden("not_a_seller", "Only a seller account can be erased here.")
        for grant in grants:
            grant.seller = user
        _end_grants_locked(grants, now, "erasure")
        SellerDataKey.objects.filter(seller=user).update(wrapped_key=None, destroyed_at=now)
        SellerProfile.objects.filter(seller=user).update(
            age_band="",
            gender="",
            region="",
            mobile_os="",
            mobile_operator="",
            interests_mask=0,
            affinities_mask=0,
            birth_date_encrypted=None,
            postcode_encrypted=None,
            phone_encrypted=None,
        )
        LifeEvent.objects.filter(seller=user).delete()
        # every device is logged out, and where it logged in from is forgotten
        session_keys = LoginSession.objects.filter(user=user).values("session_key")
        Session.objects.filter(session_key__in=session_keys).delete()
        LoginSession.objects.filter(user=user).delete()
        user.email = f"erased-{user.pseudonym}@erased.invalid"
        user.full_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.email_verified_at = None
        user.phone_verified_at = None
        user.erased_at = now
        user.save()
    return user
