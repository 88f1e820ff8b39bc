"""Buyer API for bids, trades, purchased data and deletion notices. Every lookup is scoped to the
caller's organisation, so another organisation's ids answer 404.

Bidding and reading purchased data need a verified organisation. Reading one's own bids, trades,
grants and deletion notices, cancelling an open bid and acknowledging a deletion only need a
usable API key: an organisation whose verification was withdrawn must still be able to wind down
and to confirm deletions.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api.permissions import HasRequiredScope, IsBuyerMember, IsVerifiedBuyer
from accounts.models import ApiScope
from accounts.taxonomy import Purpose
from core.api_errors import error_response
from core.errors import Conflict, ServiceError
from core.idempotency import idempotent
from listings.api.views import SegmentCriteriaSerializer
from marketplace import selectors, services
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice, Trade

BID_ERRORS = {
    403: error_response("`organisation_not_verified`: only verified organisations bid."),
    409: error_response("`listing_not_open`, `auction_closed`, `bid_exists`: the listing cannot take it."),
    422: error_response(
        "`payment_method_required`: save a card first (POST /api/v1/payment-methods/), nothing "
        "changed; also `price_mismatch`, `below_floor`, `amount_invalid`, `purpose_not_offered`, "
        "`max_records_invalid`, `expiry_invalid`."
    ),
}


class NewestFirst(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
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


class BidTradeField(serializers.UUIDField):
    """The public id of the bid's trade, or None. Only a bid that won gets a trade (every
    `_trade_create` follows a transition to won, and no status leads back to open), so an open
    bid, such as every new auction bid, answers None without a query for its trade."""

    def get_attribute(self, instance: Bid):
        if instance.status == Bid.Status.OPEN:
            return None
        return super().get_attribute(instance)


class BidOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    listing = serializers.UUIDField(source="listing.public_id", allow_null=True, default=None)
    trade = BidTradeField(
        source="trade.public_id", allow_null=True, default=None, help_text="set once the bid won"
    )
    amount_cents = serializers.IntegerField(help_text="audience bids: the maximum price per record")
    currency = serializers.CharField()
    purpose = serializers.CharField()
    licence_days = serializers.IntegerField()
    criteria = serializers.JSONField(allow_null=True)
    max_records = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


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
            choices=Purpose.values, required=False, help_text="one of the listing's purposes"
        )

    def get_queryset(self):
        return selectors.bids_of(self.request.user.organisation)

    @extend_schema(request=InputSerializer, responses={201: BidOutputSerializer, **BID_ERRORS})
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

    @extend_schema(responses=BidOutputSerializer)
    def get(self, request, public_id):
        bid = selectors.bids_of(request.user.organisation).filter(public_id=public_id).first()
        if bid is None:
            raise NotFound("No such bid.")
        return Response(BidOutputSerializer(bid).data)

    @extend_schema(
        request=RaiseSerializer, responses=BidOutputSerializer, summary="Raise an open auction bid"
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

    @extend_schema(request=None, responses=BidOutputSerializer, summary="Cancel an open bid")
    @idempotent
    def delete(self, request, public_id):
        bid = services.bid_cancel(organisation=request.user.organisation, bid_public_id=public_id)
        return Response(BidOutputSerializer(bid).data)


class AudienceBidCreateView(APIView):
    required_scope = ApiScope.BIDS_WRITE
    permission_classes = [HasRequiredScope, IsVerifiedBuyer]

    @extend_schema_serializer(component_name="AudienceBidInput")
    class InputSerializer(serializers.Serializer):
        criteria = serializers.DictField(help_text="segment criteria, as for /segments/size/")
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


class TradeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    bid = serializers.UUIDField(source="bid.public_id")
    listing = serializers.UUIDField(source="listing.public_id", allow_null=True, default=None)
    purpose = serializers.CharField()
    licence_days = serializers.IntegerField()
    price_per_record_cents = serializers.IntegerField()
    currency = serializers.CharField()
    records = serializers.IntegerField(help_text="records bought (lines not voided)")
    charged_cents = serializers.IntegerField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


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

    @extend_schema(responses=TradeOutputSerializer)
    def get(self, request, public_id):
        trade = selectors.trades_of(request.user.organisation).filter(public_id=public_id).first()
        if trade is None:
            raise NotFound("No such trade.")
        return Response(TradeOutputSerializer(trade).data)


class GrantPages(CursorPagination):
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = ("id",)


class RecordSerializer(serializers.Serializer):
    seller = serializers.CharField(help_text="pseudonymous id, stable for your organisation only")
    grant = serializers.UUIDField()
    categories = serializers.ListField(child=serializers.CharField())
    purpose = serializers.CharField()
    licence_ends_at = serializers.DateTimeField()
    data = serializers.DictField(help_text="the purchased categories' values, precise values included")


def _records(request, grants: list[AccessGrant]) -> list[dict]:
    """Decrypt the records of these readable grants and log one read per grant.

    Constant queries whatever the number of grants: one for consent, three for the data (profiles,
    data keys, life events), one insert for the access log.
    """
    organisation = request.user.organisation
    consented = selectors.grants_consented_now(grants)
    grants = [g for g in grants if g.pk in consented]
    if not grants:
        return []
    data = account_selectors.sellers_data(categories_by_seller={g.seller_id: g.categories for g in grants})
    now = timezone.now()
    AccessLog.objects.bulk_create(AccessLog(grant=g, api_key=request.auth, read_at=now) for g in grants)
    return [
        {
            "seller": selectors.buyer_pseudonym(organisation.pk, g.seller_id),
            "grant": g.public_id,
            "categories": g.categories,
            "purpose": g.purpose,
            "licence_ends_at": g.ends_at,
            "data": data[g.seller_id],
        }
        for g in grants
    ]


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
        records = _records(request, page)
        if page and not records and not (self.paginator.has_next or self.paginator.has_previous):
            raise Gone()  # every grant's consent ended, the sweep has not revoked them yet
        return self.get_paginated_response(RecordSerializer(records, many=True).data)


class AccessGrantOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    trade = serializers.UUIDField(source="trade_line.trade.public_id")
    seller = serializers.SerializerMethodField()
    categories = serializers.ListField(child=serializers.CharField())
    purpose = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.CharField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField()

    def get_seller(self, grant: AccessGrant) -> str:
        return selectors.buyer_pseudonym(grant.organisation_id, grant.seller_id)


class GrantsNewestFirst(NewestFirst):
    ordering = ("-starts_at", "-id")


@extend_schema(
    parameters=[OpenApiParameter("status", enum=AccessGrant.Status.values, required=False)],
    summary="Your access grants (licences), newest first",
)
class AccessGrantListView(ListAPIView):
    required_scope = ApiScope.DATA_READ
    permission_classes = [HasRequiredScope, IsBuyerMember]
    serializer_class = AccessGrantOutputSerializer
    pagination_class = GrantsNewestFirst

    def get_queryset(self):
        grants = selectors.access_grants_of(self.request.user.organisation)
        return _status_filtered(grants, self.request, AccessGrant.Status.values)


class AccessGrantRecordView(APIView):
    required_scope = ApiScope.DATA_READ
    permission_classes = [HasRequiredScope, IsVerifiedBuyer]

    @extend_schema(responses=RecordSerializer, summary="One purchased record (410 once expired or revoked)")
    def get(self, request, public_id):
        grant = selectors.access_grants_of(request.user.organisation).filter(public_id=public_id).first()
        if grant is None:
            raise NotFound("No such access grant.")
        if grant.status != AccessGrant.Status.ACTIVE or grant.ends_at <= timezone.now():
            raise Gone()
        records = _records(request, [grant])
        if not records:
            raise Gone()
        return Response(RecordSerializer(records[0]).data)


# ---------------------------------------------------------------------------------------------
# Deletion notices
# ---------------------------------------------------------------------------------------------


def _status_filtered(queryset, request, allowed: list[str]):
    wanted = request.query_params.get("status")
    if wanted:
        if wanted not in allowed:
            raise serializers.ValidationError({"status": f"One of {', '.join(allowed)}."})
        queryset = queryset.filter(status=wanted)
    return queryset


class NoticeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    seller = serializers.SerializerMethodField(help_text="the same pseudonymous id as in the records")
    categories = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    status = serializers.CharField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)

    def get_seller(self, notice: DeletionNotice) -> str:
        return selectors.buyer_pseudonym(notice.organisation_id, notice.seller_id)


@extend_schema(
    parameters=[OpenApiParameter("status", enum=DeletionNotice.Status.values, required=False)],
    summary="Deletion notices: delete the seller's data and acknowledge before the deadline",
)
class DeletionNoticeListView(ListAPIView):
    required_scope = ApiScope.NOTICES_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]
    serializer_class = NoticeOutputSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        notices = selectors.deletion_notices_of(self.request.user.organisation)
        return _status_filtered(notices, self.request, DeletionNotice.Status.values)


class DeletionNoticeDetailView(APIView):
    required_scope = ApiScope.NOTICES_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]

    @extend_schema(responses=NoticeOutputSerializer)
    def get(self, request, public_id):
        notice = selectors.deletion_notices_of(request.user.organisation).filter(public_id=public_id).first()
        if notice is None:
            raise NotFound("No such deletion notice.")
        return Response(NoticeOutputSerializer(notice).data)


class DeletionNoticeAcknowledgeView(APIView):
    required_scope = ApiScope.NOTICES_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]

    @extend_schema(request=None, responses=NoticeOutputSerializer, summary="Confirm the data was deleted")
    @idempotent
    def post(self, request, public_id):
        notice = services.deletion_notice_acknowledge(
            organisation=request.user.organisation, notice_public_id=public_id
        )
        return Response(NoticeOutputSerializer(notice).data)
