from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.permissions import ANY_KEY
from core.idempotency import idempotent


class OrganisationView(APIView):
    required_scope = ANY_KEY

    class OutputSerializer(serializers.Serializer):
        legal_name = serializers.CharField()
        registration_number = serializers.CharField()
        country = serializers.CharField()
        website = serializers.URLField()
        verification_status = serializers.CharField()
        verification_reason = serializers.CharField()
        verification_decided_at = serializers.DateTimeField()
        api_key_name = serializers.CharField(source="_api_key_name")

    @extend_schema(responses=OutputSerializer, summary="Your organisation and its verification")
    def get(self, request):
        organisation = request.user.organisation
        organisation._api_key_name = request.auth.name
        return Response(self.OutputSerializer(organisation).data)


class OrganisationVerificationRequestView(APIView):
    required_scope = ANY_KEY

    @extend_schema(request=None, responses=OrganisationView.OutputSerializer, summary="Ask for verification")
    @idempotent
    def post(self, request):
        organisation = services.organisation_set_verification(
            organisation_id=request.user.organisation.pk, to_status="pending", actor=None
        )
        organisation._api_key_name = request.auth.name
        return Response(OrganisationView.OutputSerializer(organisation).data, status=202)
