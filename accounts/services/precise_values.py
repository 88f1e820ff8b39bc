"""A data protection officer opens one seller's precise values (issue 14), with a reason.

Precise values are what identifies or locates a seller exactly: their email, full name and
phone number, and the encrypted fields of their data (birth date, postcode, phone, life event
details). Moderators never see them: the admin names sellers by their pseudonym and shows only
the coarse bands (age band, region, gender, mobile OS and operator, interests). A data
protection officer (accounts.roles) reads them here, one seller at a time, and the audit trail
keeps who read whose and why (`seller.precise_values_viewed`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts import selectors
from accounts.models import User
from core import audit

PRECISE_VALUES_ACTION = "seller.precise_values_viewed"


def seller_precise_values_open(*, seller: User, reason: str, actor: User) -> dict[str, Any]:
    """The seller's precise values, decrypted; the read is recorded with its reason first."""
    with transaction.atomic():
        audit.record(PRECISE_VALUES_ACTION, seller, reason=reason, actor=actor)
    events = list(selectors.life_events_for(seller=seller))
    details = selectors.life_event_details(seller=seller, events=events)
    return {
        "email": seller.email,
        "full_name": seller.full_name,
        **selectors.seller_precise_values(seller=seller),
        "life_events": [(event.get_kind_display(), details.get(event.pk, "")) for event in events],
    }
