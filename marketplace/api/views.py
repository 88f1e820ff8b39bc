"""Buyer API for bids, trades and purchased data (deletion notices: notices.py, webhooks: webhooks.py). Every lookup is scoped to the
caller's organisation, so another organisation's ids answer 404.

Bidding and reading purchased data need a verified organisation. Reading one's own bids, trades,
grants and deletion notices, cancelling an open bid and acknowledging a deletion only need a
usable API key: an organisation whose verification was withdrawn must still be able to wind down
and to confirm deletions.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import HasRequiredScope, IsBuyerMember, IsVerifiedBuyer
from accounts.models import ApiScope
from accounts.taxonomy import Purpose
from core.api_errors import error_response
from core.errors import Conflict, ServiceError
from core.idempotency import idempotent
from core.pagination import StrictCursorPagination
from listings.api.views import SegmentCriteriaSerializer
from marketplace import selectors, services
from marketplace.api.serializers import (
    BID_ERRORS,
    BID_EXAMPLE,
    BID_NOT_FOUND,
    GONE,
    GRANT_EXAMPLE,
    RECORD_EXAMPLE,
    TRADE_EXAMPLE,
    AccessGrantOutputSerializer,
    BidOutputSerializer,
    CriteriaInputField,
    RecordSerializer,
    TradeOutputSerializer,
)
from marketplace.models import AccessGrant, Trade


class NewestFirst(StrictCursorPagination):
    ordering = ("-created_at", "-id")


class VerifiedToWrite(IsBuyerMember):
    """Reads (and the methods in `member_methods`) for any buyer member; the rest verified only."""

    message = IsVerifiedBuyer.message
    code = IsVerifiedBuyer.code
    member_methods = frozenset({"GET", "HEAD", "OPTIONS"})

    def has_permission(self, request, view) -> bool:
        if request.method in getattr(view, "member_methods", self.member_methods):
            return super().has_permission(request, view)
        return IsVerifiedBuyer().has_permission(request, view)


class Gone(ServiceError):
    status_code = 410

    def __init__(self) -> None:
        super().__init__("gone", "The licence has ended or the seller withdrew consent: delete this data.")


# ---------------------------------------------------------------------------------------------
# Bids
# ---------------------------------------------------------------------------------------------


class BidListCreateView(ListAPIView):
    """GET your bids; POST a bid on a listing (buy now, or a sealed auction bid)."""

    required_scope = ApiScope.BIDS_WRITE
    permission_classes = [HasRequiredScope, VerifiedToWrite]
    serializer_class = BidOutputSerializer
    pagination_class = NewestFirst

    @extend_schema_serializer(component_name="BidInput")
    class InputSerializer(serializers.Serializer):
        listing = serializers.UUIDField()
        amount_cents = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=services.MAX_BID_CENTS,
            help_text="required for auctions; buy now pays the listed price",
        )
        purpose = serializers.ChoiceField(
            choices=Purpose.choices, required=False, help_text="one of the listing's purposes"
        )

    def get_queryset(self):
        return selectors.bids_of(self.request.user.organisation)

    @extend_schema(
        summary="Your bids, newest first",
        description="Every bid of your organisation, open or decided; `trade` is set once one won.",
        examples=[
            OpenApiExample(
                "A page of bids",
                value={"next": None, "previous": None, "results": [BID_EXAMPLE]},
                response_only=True,
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer,
        responses={201: BidOutputSerializer, **BID_ERRORS},
        summary="Bid on a listing",
        description="Buy now at the listed price (no amount needed), or a sealed bid on an auction "
        "(`amount_cents` at least the floor). Verified organisations with a saved card only.",
        examples=[
            OpenApiExample(
                "A sealed auction bid",
                value={
                    "listing": BID_EXAMPLE["listing"],
                    "amount_cents": 1500,
                    "purpose": "targeted_advertising",
                },
                request_only=True,
            ),
            OpenApiExample("The open bid", value=BID_EXAMPLE, response_only=True),
        ],
    )
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.bid_place(
            organisation=request.user.organisation, **_renamed(serializer.validated_data)
        )
        return Response(BidOutputSerializer(bid).data, status=status.HTTP_201_CREATED)


def _renamed(data: dict) -> dict:
    data = dict(data)
    data["listing_public_id"] = data.pop("listing")
    return data


class BidDetailView(APIView):
    required_scope = ApiScope.BIDS_WRITE
    permission_classes = [HasRequiredScope, VerifiedToWrite]
    member_methods = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

    @extend_schema_serializer(component_name="BidRaiseInput")
    class RaiseSerializer(serializers.Serializer):
        amount_cents = serializers.IntegerField(min_value=1, max_value=services.MAX_BID_CENTS)

    @extend_schema(
        responses={200: BidOutputSerializer, 404: BID_NOT_FOUND},
        summary="One of your bids",
        description="A bid of your organisation by id, with its status and, once it won, its trade.",
        examples=[OpenApiExample("An open bid", value=BID_EXAMPLE, response_only=True)],
    )
    def get(self, request, public_id):
        bid = selectors.bids_of(request.user.organisation).filter(public_id=public_id).first()
        if bid is None:
            raise NotFound("No such bid.")
        return Response(BidOutputSerializer(bid).data)

    @extend_schema(
        request=RaiseSerializer,
        responses={
            200: BidOutputSerializer,
            404: BID_NOT_FOUND,
            409: error_response(
                "`bid_not_open`, `auction_closed`, `not_an_auction_bid`: the bid cannot be raised."
            ),
            422: error_response("`raise_too_low`: a raise must be above your current bid."),
        },
        summary="Raise an open auction bid",
        description="A new, higher amount for your open sealed bid, until the auction closes.",
        examples=[
            OpenApiExample("Raise to 20 €", value={"amount_cents": 2000}, request_only=True),
            OpenApiExample("The raised bid", value={**BID_EXAMPLE, "amount_cents": 2000}, response_only=True),
        ],
    )
    @idempotent
    def patch(self, request, public_id):
        serializer = self.RaiseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.bid_raise(
            organisation=request.user.organisation,
            bid_public_id=public_id,
            amount_cents=serializer.validated_data["amount_cents"],
        )
        return Response(BidOutputSerializer(bid).data)

    @extend_schema(
        request=None,
        responses={
            200: BidOutputSerializer,
            404: BID_NOT_FOUND,
            409: error_response("`bid_not_open`, `auction_closed`: only an open bid can be cancelled."),
        },
        summary="Cancel an open bid",
        description="Cancels your open bid (any organisation with a key, verified or not) and "
        "answers 200 with the cancelled bid.",
        examples=[
            OpenApiExample(
                "The cancelled bid",
                value={**BID_EXAMPLE, "status": "cancelled", "status_reason": "cancelled by the buyer"},
                response_only=True,
            )
        ],
    )
    @idempotent
    def delete(self, request, public_id):
        bid = services.bid_cancel(organisation=request.user.organisation, bid_public_id=public_id)
        return Response(BidOutputSerializer(bid).data)


class AudienceBidCreateView(APIView):
    required_scope = ApiScope.BIDS_WRITE
    permission_classes = [HasRequiredScope, IsVerifiedBuyer]

    @extend_schema_serializer(component_name="AudienceBidInput")
    class InputSerializer(serializers.Serializer):
        criteria = CriteriaInputField(help_text="segment criteria, as for /segments/size/")
        max_price_cents = serializers.IntegerField(min_value=1, max_value=services.MAX_BID_CENTS)
        max_records = serializers.IntegerField(min_value=1, max_value=services.MAX_AUDIENCE_RECORDS)
        expires_at = serializers.DateTimeField()

        def validate_criteria(self, value):
            # validated on its own: SegmentCriteriaSerializer reads its initial_data to refuse
            # unknown criteria, which a nested serializer does not have
            criteria = SegmentCriteriaSerializer(data=value)
            if not criteria.is_valid():
                raise serializers.ValidationError(criteria.errors)
            return criteria.criteria()

    @extend_schema(
        request=InputSerializer,
        responses={201: BidOutputSerializer, **BID_ERRORS},
        summary="Bid on an audience bundle",
        description="Buys up to `max_records` records of sellers matching the criteria at up to "
        "`max_price_cents` each, from listings as they come, until `expires_at`.",
        examples=[
            OpenApiExample(
                "500 Parisian records for targeted advertising",
                value={
                    "criteria": {
                        "categories": ["demographics", "location"],
                        "purpose": "targeted_advertising",
                        "regions": ["FR-IDF"],
                    },
                    "max_price_cents": 200,
                    "max_records": 500,
                    "expires_at": "2026-12-10T00:00:00Z",
                },
                request_only=True,
            ),
            OpenApiExample(
                "The open audience bid",
                value={
                    **BID_EXAMPLE,
                    "kind": "audience",
                    "listing": None,
                    "amount_cents": 200,
                    "criteria": {
                        "categories": ["demographics", "location"],
                        "purpose": "targeted_advertising",
                    },
                    "max_records": 500,
                    "expires_at": "2026-12-10T00:00:00Z",
                },
                response_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.audience_bid_place(organisation=request.user.organisation, **serializer.validated_data)
        return Response(BidOutputSerializer(bid).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------------------------------------
# Trades and purchased records
# ---------------------------------------------------------------------------------------------


@extend_schema(
    summary="Your trades, newest first",
    description="A trade is a bid that won: what was bought, for how much, and where its settlement stands.",
    examples=[
        OpenApiExample(
            "A page of trades",
            value={"next": None, "previous": None, "results": [TRADE_EXAMPLE]},
            response_only=True,
        )
    ],
)
class TradeListView(ListAPIView):
    required_scope = ApiScope.BIDS_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]
    serializer_class = TradeOutputSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        return selectors.trades_of(self.request.user.organisation)


class TradeDetailView(APIView):
    required_scope = ApiScope.BIDS_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]

    @extend_schema(
        responses={200: TradeOutputSerializer, 404: error_response("`not_found`: no such trade.")},
        summary="One of your trades",
        description="A trade of your organisation by id.",
        examples=[OpenApiExample("A delivered trade", value=TRADE_EXAMPLE, response_only=True)],
    )
    def get(self, request, public_id):
        trade = selectors.trades_of(request.user.organisation).filter(public_id=public_id).first()
        if trade is None:
            raise NotFound("No such trade.")
        return Response(TradeOutputSerializer(trade).data)


class GrantPages(StrictCursorPagination):
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = ("id",)


@extend_schema(
    responses={
        200: RecordSerializer(many=True),
        404: error_response("`not_found`: no such trade (or an invalid cursor)."),
        409: error_response("`trade_not_delivered`: no data before delivery."),
        410: GONE,
    },
    summary="The purchased records of a trade",
    description="The records of a delivered trade, while the licence and the consent last; each "
    "read is logged. 410 once none is readable: delete the data.",
    examples=[
        OpenApiExample(
            "A page of records",
            value={"next": None, "previous": None, "results": [RECORD_EXAMPLE]},
            response_only=True,
        )
    ],
)
class TradeRecordsView(ListAPIView):
    """The purchased records of a delivered trade, paginated, while the licence and the consent
    last: 410 Gone once none is readable; 409 before delivery."""

    required_scope = ApiScope.DATA_READ
    permission_classes = [HasRequiredScope, IsVerifiedBuyer]
    serializer_class = RecordSerializer
    pagination_class = GrantPages

    def get_queryset(self):
        return selectors.readable_grants(self.request.user.organisation, self.kwargs["public_id"])

    def list(self, request, *args, **kwargs):
        grants = self.get_queryset()
        page = self.paginate_queryset(grants)
        if not page and not grants.exists():
            # nothing readable at all: why (asked only then, so a full page costs no query)
            trade = Trade.objects.filter(
                organisation=request.user.organisation, public_id=self.kwargs["public_id"]
            ).first()
            if trade is None:
                raise NotFound("No such trade.")
            if not AccessGrant.objects.filter(trade_line__trade=trade).exists():
                raise Conflict("trade_not_delivered", f"This trade is {trade.status}: no data yet.")
            raise Gone()
        records = services.records_read(
            organisation=request.user.organisation, api_key=request.auth, grants=page
        )
        if page and not records and not (self.paginator.has_next or self.paginator.has_previous):
            raise Gone()  # every grant's consent ended, the sweep has not revoked them yet
        return self.get_paginated_response(RecordSerializer(records, many=True).data)


class GrantsNewestFirst(NewestFirst):
    ordering = ("-starts_at", "-id")


@extend_schema(
    parameters=[OpenApiParameter("status", enum=AccessGrant.Status.values, required=False)],
    summary="Your access grants (licences), newest first",
    description="One grant per seller of each trade: the categories and purpose licensed and "
    "until when. Filter by `status`.",
    examples=[
        OpenApiExample(
            "A page of grants",
            value={"next": None, "previous": None, "results": [GRANT_EXAMPLE]},
            response_only=True,
        )
    ],
)
class AccessGrantListView(ListAPIView):
    required_scope = ApiScope.DATA_READ
    permission_classes = [HasRequiredScope, IsBuyerMember]
    serializer_class = AccessGrantOutputSerializer
    pagination_class = GrantsNewestFirst

    def get_queryset(self):
        grants = selectors.access_grants_of(self.request.user.organisation)
        return status_filtered(grants, self.request, AccessGrant.Status.values)


class AccessGrantRecordView(APIView):
    required_scope = ApiScope.DATA_READ
    permission_classes = [HasRequiredScope, IsVerifiedBuyer]

    @extend_schema(
        responses={
            200: RecordSerializer,
            404: error_response("`not_found`: no such access grant."),
            410: GONE,
        },
        summary="One purchased record (410 once expired or revoked)",
        description="The record licensed by one access grant; each read is logged.",
        examples=[OpenApiExample("A record", value=RECORD_EXAMPLE, response_only=True)],
    )
    def get(self, request, public_id):
        grant = selectors.access_grants_of(request.user.organisation).filter(public_id=public_id).first()
        if grant is None:
            raise NotFound("No such access grant.")
        if grant.status != AccessGrant.Status.ACTIVE or grant.ends_at <= timezone.now():
            raise Gone()
        records = services.records_read(
            organisation=request.user.organisation, api_key=request.auth, grants=[grant]
        )
        if not records:
            raise Gone()
        return Response(RecordSerializer(records[0]).data)


def status_filtered(queryset, request, allowed: list[str]):
    wanted = request.query_params.get("status")
    if wanted is not None:  # `?status=` too: an empty value is not a status
        if wanted not in allowed:
            raise serializers.ValidationError({"status": f"One of {', '.join(allowed)}."})
        queryset = queryset.filter(status=wanted)
    return queryset
