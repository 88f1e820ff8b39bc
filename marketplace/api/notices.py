"""Buyer API for deletion notices: what an organisation must delete after a seller withdrew
consent or a licence ended, and its acknowledgement. Only a usable API key is needed (no
verification): an organisation whose verification was withdrawn must still confirm deletions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import HasRequiredScope, IsBuyerMember
from accounts.models import ApiScope
from core.api_errors import error_response
from core.idempotency import idempotent
from marketplace import selectors, services
from marketplace.api.serializers import NOTICE_EXAMPLE, NOTICE_NOT_FOUND, NoticeOutputSerializer
from marketplace.api.views import NewestFirst, status_filtered
from marketplace.models import DeletionNotice


@extend_schema(
    parameters=[OpenApiParameter("status", enum=DeletionNotice.Status.values, required=False)],
    summary="Deletion notices: delete the seller's data and acknowledge before the deadline",
    description="Sent when a seller withdraws consent or a licence ends: delete that seller's "
    "data, then acknowledge the notice before its deadline. Filter by `status`.",
    examples=[
        OpenApiExample(
            "A page of notices",
            value={"next": None, "previous": None, "results": [NOTICE_EXAMPLE]},
            response_only=True,
        )
    ],
)
class DeletionNoticeListView(ListAPIView):
    required_scope = ApiScope.NOTICES_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]
    serializer_class = NoticeOutputSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        notices = selectors.deletion_notices_of(self.request.user.organisation)
        return status_filtered(notices, self.request, DeletionNotice.Status.values)


class DeletionNoticeDetailView(APIView):
    required_scope = ApiScope.NOTICES_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]

    @extend_schema(
        responses={200: NoticeOutputSerializer, 404: NOTICE_NOT_FOUND},
        summary="One deletion notice",
        description="A deletion notice of your organisation by id.",
        examples=[OpenApiExample("A notice to act on", value=NOTICE_EXAMPLE, response_only=True)],
    )
    def get(self, request, public_id):
        notice = selectors.deletion_notices_of(request.user.organisation).filter(public_id=public_id).first()
        if notice is None:
            raise NotFound("No such deletion notice.")
        return Response(NoticeOutputSerializer(notice).data)


class DeletionNoticeAcknowledgeView(APIView):
    required_scope = ApiScope.NOTICES_WRITE
    permission_classes = [HasRequiredScope, IsBuyerMember]

    @extend_schema(
        request=None,
        responses={
            200: NoticeOutputSerializer,
            404: NOTICE_NOT_FOUND,
            409: error_response("`already_acknowledged`: this notice was already acknowledged."),
        },
        summary="Confirm the data was deleted",
        description="Acknowledges the notice: you confirm the seller's data is deleted everywhere.",
        examples=[
            OpenApiExample(
                "The acknowledged notice",
                value={**NOTICE_EXAMPLE, "status": "acknowledged", "acknowledged_at": "2026-12-06T09:00:00Z"},
                response_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request, public_id):
        notice = services.deletion_notice_acknowledge(
            organisation=request.user.organisation, notice_public_id=public_id
        )
        return Response(NoticeOutputSerializer(notice).data)
