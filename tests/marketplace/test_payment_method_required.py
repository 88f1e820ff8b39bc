"""A buyer without a saved card cannot take anything off the market, by any bidding endpoint:
422 `payment_method_required` before anything changes, as the schema documents."""

from __future__ import annotations

import pytest

from listings.models import Listing
from tests.factories import VerifiedOrganisationFactory
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_bids import AUDIENCE, BIDS, audience_body, nothing_written
from tests.marketplace.test_api_delivery import queued  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_card_no_bid_and_the_market_is_untouched(api_client_for):
    cardless = api_client_for(VerifiedOrganisationFactory())
    fixed = active_listing(pricing_mode="fixed", floor=700)
    auction = active_listing(pricing_mode="auction", floor=700)

    attempts = [
        cardless.post(BIDS, {"listing": str(fixed.public_id)}, format="json"),
        cardless.post(BIDS, {"listing": str(fixed.public_id), "amount_cents": 700}, format="json"),
        cardless.post(BIDS, {"listing": str(auction.public_id), "amount_cents": 900}, format="json"),
        cardless.post(AUDIENCE, audience_body(), format="json"),
        cardless.post(
            BIDS, {"listing": str(fixed.public_id)}, format="json", HTTP_IDEMPOTENCY_KEY="no-card-1"
        ),
    ]

    for response in attempts:
        assert response.status_code == 422, response.content
        assert response.json()["code"] == "payment_method_required"
    assert nothing_written()
    assert set(Listing.objects.values_list("status", flat=True)) == {Listing.Status.ACTIVE}
    browse = cardless.get("/api/v1/listings/").json()["results"]
    assert {row["id"] for row in browse} == {str(fixed.public_id), str(auction.public_id)}


def test_the_schema_documents_the_refusal(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (BIDS, AUDIENCE):  # the schema's paths are relative to its server, /api/v1
        responses = schema["paths"][path.removeprefix("/api/v1")]["post"]["responses"]
        assert "422" in responses, path
        assert "payment_method_required" in str(responses["422"])
