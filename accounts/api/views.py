from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.permissions import ANY_KEY
from accounts.models import BuyerOrganisation
from accounts.selectors import ORGANISATION_VERIFICATION_MISSING
from core.api_errors import ProblemSerializer, error_response
from core.idempotency import idempotent

ORGANISATION_EXAMPLE = OpenApiExample(
    "An organisation waiting for review",
    value={
        "legal_name": "Acme Analytics SAS",
        "registration_number": "552100554",
        "country": "FR",
        "website": "https://acme.example",
        "verification_status": "pending",
        "verification_reason": "",
        "verification_decided_at": None,
        "api_key_name": "production",
    },
    response_only=True,
)


class OrganisationView(APIView):
    required_scope = ANY_KEY

    @extend_schema_serializer(component_name="Organisation")
    class OutputSerializer(serializers.Serializer):
        legal_name = serializers.CharField()
        registration_number = serializers.CharField()
        country = serializers.CharField(help_text="ISO 3166-1 alpha-2")
        website = serializers.URLField()
        verification_status = serializers.ChoiceField(choices=BuyerOrganisation.Verification.choices)
        verification_reason = serializers.CharField(help_text="why it was rejected; empty otherwise")
        verification_decided_at = serializers.DateTimeField(allow_null=True)
        api_key_name = serializers.CharField(source="_api_key_name", help_text="the key of this request")

    @extend_schema(
        responses={200: OutputSerializer},
        summary="Your organisation and its verification",
        description="The organisation that owns the API key of the request, and where its "
        "verification stands: only a verified organisation bids and reads purchased data.",
        examples=[ORGANISATION_EXAMPLE],
    )
    def get(self, request):
        organisation = request.user.organisation
        organisation._api_key_name = request.auth.name
        return Response(self.OutputSerializer(organisation).data)


class VerificationIncompleteProblemSerializer(ProblemSerializer):
    """The problem details, plus what is missing for `verification_incomplete`."""

    missing = serializers.ListField(
        child=serializers.ChoiceField(choices=ORGANISATION_VERIFICATION_MISSING),
        required=False,
        help_text="`verification_incomplete` only: what to complete first, an empty detail (its "
        "field name) or `contact_email_unverified` / `contact_phone_unverified` (verify them in "
        "the console)",
    )


class OrganisationVerificationRequestView(APIView):
    required_scope = ANY_KEY

    @extend_schema(
        request=None,
        responses={
            202: OrganisationView.OutputSerializer,
            409: error_response("`transition_not_allowed`: the organisation is already pending or verified."),
            422: OpenApiResponse(
                VerificationIncompleteProblemSerializer,
                description="`verification_incomplete`: a detail is empty or the contact email or "
                "phone is not verified yet; `missing` lists each. `idempotency_key_reused`: this "
                "key was used with another request.",
                examples=[
                    OpenApiExample(
                        "Contact phone not verified",
                        value={
                            "type": "https://courtier.example.com/api/problems/verification_incomplete/",
                            "title": "Verification details incomplete",
                            "status": 422,
                            "detail": "Complete these first: contact_phone_unverified.",
                            "instance": "/api/v1/organisation/verification-request/",
                            "code": "verification_incomplete",
                            "missing": ["contact_phone_unverified"],
                        },
                        response_only=True,
                        status_codes=["422"],
                    )
                ],
            ),
        },
        summary="Ask for verification",
        description="Puts an unverified or rejected organisation in the moderators' queue "
        "(`verification_status` becomes `pending`); 202: a moderator decides later. Refused "
        "(422 `verification_incomplete`, listing what is `missing`) until every detail is filled "
        "in and the contact email and phone are verified, as in the console.",
        examples=[
            OpenApiExample(
                "Now pending",
                value={**ORGANISATION_EXAMPLE.value, "verification_status": "pending"},
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    @idempotent
    def post(self, request):
        organisation = services.organisation_request_verification(
            organisation_id=request.user.organisation.pk, actor=None
        )
        organisation._api_key_name = request.auth.name
        return Response(OrganisationView.OutputSerializer(organisation).data, status=202)
