"""The buyer API's answers for bids, trades, purchased records, access grants and deletion
notices: their serializers, the documented error answers and the schema's examples."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import taxonomy
from accounts.taxonomy import DataCategory, Purpose
from core.api_errors import error_response
from listings.api.views import SegmentCriteriaSerializer
from marketplace import selectors
from marketplace.models import AccessGrant, Bid, DeletionNotice, Trade

BID_ERRORS = {
    403: error_response(
        "`permission_denied`: only verified organisations bid; `organisation_suspended`: a "
        "moderator suspended your organisation; `own_data`: an organisation cannot buy its own "
        "members' data."
    ),
    404: error_response("`listing_not_found`: no such listing."),
    409: error_response("`listing_not_open`, `auction_closed`, `bid_exists`: the listing cannot take it."),
    422: error_response(
        "`payment_method_required`: save a card first (POST /api/v1/payment-methods/), nothing "
        "changed; also `price_mismatch`, `below_floor`, `amount_invalid`, `purpose_not_offered`, "
        "`max_records_invalid`, `expiry_invalid`."
    ),
}


GONE = error_response("`gone`: the licence ended or the seller withdrew consent: delete this data.")
BID_NOT_FOUND = error_response("`bid_not_found`: no such bid for your organisation.")


def _categories() -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=DataCategory.choices))


class BidTradeField(serializers.UUIDField):
    """The public id of the bid's trade, or None. Only a bid that won gets a trade (every
    `_trade_create` follows a transition to won, and no status leads back to open), so an open
    bid, such as every new auction bid, answers None without a query for its trade."""

    def get_attribute(self, instance: Bid):
        if instance.status == Bid.Status.OPEN:
            return None
        return super().get_attribute(instance)


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "additionalProperties": True,
        "description": "audience bids: the segment criteria (as for /segments/size/); null otherwise",
    }
)
class CriteriaOutputField(serializers.JSONField):
    pass


@extend_schema_field(SegmentCriteriaSerializer)
class CriteriaInputField(serializers.DictField):
    """A dict, validated by the view; documented as the segment criteria object."""


class BidOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.ChoiceField(choices=Bid.Kind.choices)
    listing = serializers.UUIDField(
        source="listing.public_id", allow_null=True, default=None, help_text="null for audience bids"
    )
    trade = BidTradeField(
        source="trade.public_id", allow_null=True, default=None, help_text="set once the bid won"
    )
    amount_cents = serializers.IntegerField(help_text="audience bids: the maximum price per record")
    currency = serializers.CharField()
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    licence_days = serializers.ChoiceField(choices=taxonomy.LICENCE_DAYS)
    criteria = CriteriaOutputField(allow_null=True)
    max_records = serializers.IntegerField(allow_null=True, help_text="audience bids only")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="audience bids only")
    status = serializers.ChoiceField(choices=Bid.Status.choices)
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


BID_EXAMPLE = {
    "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "kind": "auction",
    "listing": "3f1c2a4e-8b7d-4c55-9a10-2f6e0d9b7c41",
    "trade": None,
    "amount_cents": 1500,
    "currency": "eur",
    "purpose": "targeted_advertising",
    "licence_days": 30,
    "criteria": None,
    "max_records": None,
    "expires_at": None,
    "status": "open",
    "status_reason": "",
    "created_at": "2026-12-03T10:15:00Z",
}


class TradeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    bid = serializers.UUIDField(source="bid.public_id")
    listing = serializers.UUIDField(source="listing.public_id", allow_null=True, default=None)
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    licence_days = serializers.ChoiceField(choices=taxonomy.LICENCE_DAYS)
    price_per_record_cents = serializers.IntegerField()
    currency = serializers.CharField()
    records = serializers.IntegerField(help_text="records bought (lines not voided)")
    charged_cents = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Trade.Status.choices)
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


TRADE_EXAMPLE = {
    "id": "c4d5e6f7-0a1b-4c2d-8e3f-4a5b6c7d8e9f",
    "bid": BID_EXAMPLE["id"],
    "listing": BID_EXAMPLE["listing"],
    "purpose": "targeted_advertising",
    "licence_days": 30,
    "price_per_record_cents": 1500,
    "currency": "eur",
    "records": 1,
    "charged_cents": 1500,
    "status": "delivered",
    "status_reason": "",
    "created_at": "2026-12-03T18:00:00Z",
}


class RecordSerializer(serializers.Serializer):
    seller = serializers.CharField(help_text="pseudonymous id, stable for your organisation only")
    grant = serializers.UUIDField()
    categories = _categories()
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    licence_ends_at = serializers.DateTimeField()
    data = serializers.DictField(help_text="the purchased categories' values, precise values included")


RECORD_EXAMPLE = {
    "seller": "s_5f2b9c1e7a",
    "grant": "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
    "categories": ["demographics", "location"],
    "purpose": "targeted_advertising",
    "licence_ends_at": "2027-01-02T18:00:00Z",
    "data": {
        "age_band": "25-34",
        "gender": "female",
        "birth_date": "1994-05-01",
        "region": "FR-IDF",
        "postcode": "75011",
    },
}


class AccessGrantOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    trade = serializers.UUIDField(source="trade_line.trade.public_id")
    seller = serializers.SerializerMethodField()
    categories = _categories()
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=AccessGrant.Status.choices)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField()

    def get_seller(self, grant: AccessGrant) -> str:
        return selectors.buyer_pseudonym(grant.organisation_id, grant.seller_id)


GRANT_EXAMPLE = {
    "id": RECORD_EXAMPLE["grant"],
    "trade": TRADE_EXAMPLE["id"],
    "seller": "s_5f2b9c1e7a",
    "categories": ["demographics", "location"],
    "purpose": "targeted_advertising",
    "starts_at": "2026-12-03T18:00:00Z",
    "ends_at": "2027-01-02T18:00:00Z",
    "status": "active",
    "revoked_at": None,
    "revoked_reason": "",
}


class NoticeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    seller = serializers.SerializerMethodField(help_text="the same pseudonymous id as in the records")
    categories = _categories()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=DeletionNotice.Status.choices)
    acknowledged_at = serializers.DateTimeField(allow_null=True)

    def get_seller(self, notice: DeletionNotice) -> str:
        return selectors.buyer_pseudonym(notice.organisation_id, notice.seller_id)


NOTICE_EXAMPLE = {
    "id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
    "seller": "s_5f2b9c1e7a",
    "categories": ["demographics", "location"],
    "reason": "consent_withdrawn",
    "created_at": "2026-12-05T08:00:00Z",
    "deadline": "2027-01-04T08:00:00Z",
    "status": "sent",
    "acknowledged_at": None,
}


NOTICE_NOT_FOUND = error_response("`notice_not_found`: no such deletion notice.")
