"""Buyer API for bids, trades, purchased data and deletion notices. Every lookup is scoped to the
caller's organisation, so another organisation's ids answer 404."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api.permissions import IsVerifiedBuyer
from accounts.errors import ServiceError
from listings.api.views import SegmentCriteriaSerializer
from marketplace import selectors, services
from marketplace.api.idempotency import idempotent
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice


class NewestFirst(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")


class BidOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    listing = serializers.UUIDField(source="listing.public_id", allow_null=True, default=None)
    amount_cents = serializers.IntegerField()
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
    """GET your bids; POST a bid on a listing (buy now or sealed auction bid)."""

    permission_classes = [IsVerifiedBuyer]
    serializer_class = BidOutputSerializer
    pagination_class = NewestFirst

    class InputSerializer(serializers.Serializer):
        listing = serializers.UUIDField()
        amount_cents = serializers.IntegerField(required=False, min_value=1, max_value=services.MAX_BID_CENTS)

    def get_queryset(self):
        return selectors.bids_of(self.request.user.organisation)

    @extend_schema(request=InputSerializer, responses={201: BidOutputSerializer})
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.bid_place(
            organisation=request.user.organisation,
            listing_public_id=serializer.validated_data["listing"],
            amount_cents=serializer.validated_data.get("amount_cents"),
        )
        return Response(BidOutputSerializer(bid).data, status=status.HTTP_201_CREATED)


class BidDetailView(APIView):
    permission_classes = [IsVerifiedBuyer]

    class RaiseSerializer(serializers.Serializer):
        amount_cents = serializers.IntegerField(min_value=1, max_value=services.MAX_BID_CENTS)

    def _bid(self, request, public_id) -> Bid:
        bid = selectors.bids_of(request.user.organisation).filter(public_id=public_id).first()
        if bid is None:
            raise NotFound("No such bid.")
        return bid

    @extend_schema(responses=BidOutputSerializer)
    def get(self, request, public_id):
        return Response(BidOutputSerializer(self._bid(request, public_id)).data)

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
    def delete(self, request, public_id):
        bid = services.bid_cancel(organisation=request.user.organisation, bid_public_id=public_id)
        return Response(BidOutputSerializer(bid).data)


class AudienceBidCreateView(APIView):
    permission_classes = [IsVerifiedBuyer]

    class InputSerializer(serializers.Serializer):
        criteria = SegmentCriteriaSerializer()
        max_price_cents = serializers.IntegerField(min_value=1, max_value=services.MAX_BID_CENTS)
        max_records = serializers.IntegerField(min_value=1, max_value=services.MAX_AUDIENCE_RECORDS)
        expires_at = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer, responses={201: BidOutputSerializer}, summary="Bid on an audience bundle"
    )
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        criteria_serializer = SegmentCriteriaSerializer(data=request.data["criteria"])
        criteria_serializer.is_valid(raise_exception=True)
        bid = services.audience_bid_place(
            organisation=request.user.organisation,
            criteria=criteria_serializer.criteria(),
            max_price_cents=data["max_price_cents"],
            max_records=data["max_records"],
            expires_at=data["expires_at"],
        )
        return Response(BidOutputSerializer(bid).data, status=status.HTTP_201_CREATED)


class TradeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    bid = serializers.UUIDField(source="bid.public_id")
    listing = serializers.UUIDField(source="listing.public_id", allow_null=True, default=None)
    purpose = serializers.CharField()
    licence_days = serializers.IntegerField()
    price_per_record_cents = serializers.IntegerField()
    currency = serializers.CharField()
    records = serializers.IntegerField()
    charged_cents = serializers.IntegerField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class TradeListView(ListAPIView):
    permission_classes = [IsVerifiedBuyer]
    serializer_class = TradeOutputSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        return selectors.trades_of(self.request.user.organisation)


class TradeDetailView(APIView):
    permission_classes = [IsVerifiedBuyer]

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
    licence_ends_at = serializers.DateTimeField()
    data = serializers.DictField()


def _records(request, grants: list[AccessGrant]) -> list[dict]:
    """Decrypt the page's records and log one read per grant (constant queries per page)."""
    organisation = request.user.organisation
    data = account_selectors.sellers_data(categories_by_seller={g.seller_id: g.categories for g in grants})
    AccessLog.objects.bulk_create(AccessLog(grant=g, api_key=request.auth) for g in grants)
    return [
        {
            "seller": selectors.buyer_pseudonym(organisation.pk, g.seller_id),
            "grant": g.public_id,
            "categories": g.categories,
            "licence_ends_at": g.ends_at,
            "data": data[g.seller_id],
        }
        for g in grants
    ]


class Gone(ServiceError):
    status_code = 410

    def __init__(self) -> None:
        super().__init__("gone", "The licence has ended or the seller withdrew consent: delete this data.")


class TradeRecordsView(ListAPIView):
    """The purchased records of a trade, while the licence and the consent last (410 after)."""

    permission_classes = [IsVerifiedBuyer]
    serializer_class = RecordSerializer
    pagination_class = GrantPages

    def get_queryset(self):
        trade = (
            selectors.trades_of(self.request.user.organisation)
            .filter(public_id=self.kwargs["public_id"])
            .first()
        )
        if trade is None:
            raise NotFound("No such trade.")
        grants = selectors.readable_grants(self.request.user.organisation, trade)
        if not grants.exists():
            raise Gone()
        return grants

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RecordSerializer(_records(request, page), many=True).data)


class AccessGrantRecordView(APIView):
    permission_classes = [IsVerifiedBuyer]

    @extend_schema(responses=RecordSerializer, summary="One purchased record (410 once expired or revoked)")
    def get(self, request, public_id):
        grant = selectors.access_grants_of(request.user.organisation).filter(public_id=public_id).first()
        if grant is None:
            raise NotFound("No such access grant.")
        if grant.status != AccessGrant.Status.ACTIVE or grant.ends_at <= timezone.now():
            raise Gone()
        return Response(RecordSerializer(_records(request, [grant])[0]).data)


class NoticeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    seller = serializers.SerializerMethodField()
    categories = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    status = serializers.CharField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)

    def get_seller(self, notice: DeletionNotice) -> str:
        return selectors.buyer_pseudonym(notice.organisation_id, notice.seller_id)


class DeletionNoticeListView(ListAPIView):
    """Deletion notices: delete the seller's data and acknowledge before the deadline."""

    permission_classes = [IsVerifiedBuyer]
    serializer_class = NoticeOutputSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        notices = selectors.deletion_notices_of(self.request.user.organisation)
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in DeletionNotice.Status.values:
                raise serializers.ValidationError(
                    {"status": f"One of {', '.join(DeletionNotice.Status.values)}."}
                )
            notices = notices.filter(status=wanted)
        return notices


class DeletionNoticeAcknowledgeView(APIView):
    permission_classes = [IsVerifiedBuyer]

    @extend_schema(request=None, responses=NoticeOutputSerializer, summary="Confirm the data was deleted")
    @idempotent
    def post(self, request, public_id):
        notice = services.deletion_notice_acknowledge(
            organisation=request.user.organisation, notice_public_id=public_id
        )
        return Response(NoticeOutputSerializer(notice).data)
