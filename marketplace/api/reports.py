"""Buyer API for reports (issue 14): an organisation reports a listing to the moderators.

Any usable key with `listings:read` (whoever may browse listings may report one), verified or
not, suspended or not. A moderator reads the report in the admin and resolves or dismisses it.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import HasRequiredScope, IsBuyerMember
from accounts.models import ApiScope
from core.api_errors import error_response
from core.idempotency import idempotent
from marketplace import services
from marketplace.models import Report


class ReportOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    listing = serializers.UUIDField(source="listing.public_id")
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    details = serializers.CharField()
    status = serializers.ChoiceField(
        choices=Report.Status.choices, help_text="open until a moderator decides"
    )
    created_at = serializers.DateTimeField()


REPORT_EXAMPLE = {
    "id": "5b0e6a8c-1f2d-4e3a-9b7c-6d5e4f3a2b1c",
    "listing": "3f1c2a4e-8b7d-4c55-9a10-2f6e0d9b7c41",
    "reason": "inaccurate_listing",
    "details": "The listing offers location data the seller's region contradicts.",
    "status": "open",
    "created_at": "2026-12-03T10:15:00Z",
}


class ListingReportCreateView(APIView):
    required_scope = ApiScope.LISTINGS_READ
    permission_classes = [HasRequiredScope, IsBuyerMember]

    @extend_schema_serializer(component_name="ReportInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=Report.Reason.choices)
        details = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            # documents what DRF refuses anyway (null_characters_not_allowed)
            validators=[RegexValidator(r"^[^\x00]*$")],
            help_text=f"what is wrong, at most {Report.DETAILS_MAX_LENGTH} characters",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ReportOutputSerializer,
            404: error_response("`not_found`: no such listing."),
            422: error_response("`details_too_long`."),
        },
        summary="Report a listing to the moderators",
        description="Tell Courtier's moderators what is wrong with a listing (inaccurate, suspected "
        "fraud…). The report keeps the listing as it is now; a moderator resolves or dismisses it.",
        examples=[
            OpenApiExample(
                "An inaccurate listing",
                value={"reason": REPORT_EXAMPLE["reason"], "details": REPORT_EXAMPLE["details"]},
                request_only=True,
            ),
            OpenApiExample("The open report", value=REPORT_EXAMPLE, response_only=True),
        ],
    )
    @idempotent
    def post(self, request, public_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = services.report_listing(
            organisation=request.user.organisation,
            listing_public_id=public_id,
            api_key=request.auth,
            **serializer.validated_data,
        )
        return Response(ReportOutputSerializer(report).data, status=status.HTTP_201_CREATED)
