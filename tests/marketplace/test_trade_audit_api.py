"""A buy-now through the buyers' API: the trade and the held listing are audited as the API's
(an API key signs in as its organisation's principal, with no user behind it)."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from marketplace.models import Trade
from tests.factories import PayingOrganisationFactory
from tests.marketplace.conftest import active_listing

pytestmark = pytest.mark.django_db


def test_a_buy_now_through_the_api_is_audited_as_the_buyers_api(api_client_for):
    listing = active_listing(pricing_mode="fixed", floor=700)
    client = api_client_for(PayingOrganisationFactory())

    response = client.post("/api/v1/bids/", {"listing": str(listing.public_id)}, format="json")

    assert response.status_code == 201, response.content
    trade = Trade.objects.get()
    created = AuditEntry.objects.get(target_type="marketplace.trade", target_id=str(trade.pk))
    assert created.action == "trade.created" and created.actor is None
    assert created.actor_role == "buyer_api"
    assert created.changes["price_per_record_cents"] == 700
    held = AuditEntry.objects.get(
        target_type="listings.listing", target_id=str(listing.pk), action="listing.held"
    )
    assert held.changes == {"status": ["active", "held"]} and held.actor_role == "buyer_api"
