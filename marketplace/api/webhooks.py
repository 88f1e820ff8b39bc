"""Buyer API for outbound webhooks: endpoints (with their signing secret, shown at creation and
when rolled), the events sent, their deliveries and every attempt, and redelivery on request.
Every view needs the `webhooks:manage` scope; another organisation's ids answer 404."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import HasRequiredScope, IsBuyerMember
from accounts.models import ApiScope
from core.api_errors import error_response
from core.idempotency import idempotent
from marketplace import selectors_webhooks as selectors
from marketplace import services
from marketplace.api.views import NewestFirst
from marketplace.models_webhooks import (
    ALL_EVENT_TYPES,
    EVENT_TYPE_CHOICES,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

URL_ERRORS = {
    422: error_response(
        "`webhook_url_forbidden`: the URL is not https or its host resolves to a private, loopback, "
        "link-local, multicast, reserved or unspecified address; `webhook_event_types_invalid`."
    ),
}
NOT_FOUND = {404: error_response("`not_found`: no such object in your organisation.")}


class WebhookView(APIView):
    permission_classes = [HasRequiredScope, IsBuyerMember]
    required_scope = ApiScope.WEBHOOKS_MANAGE


class WebhookListView(ListAPIView):
    permission_classes = [HasRequiredScope, IsBuyerMember]
    required_scope = ApiScope.WEBHOOKS_MANAGE
    pagination_class = NewestFirst


# --- serializers ------------------------------------------------------------------------------


class WebhookEndpointOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES))
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    disabled_reason = serializers.CharField()
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="since when every attempt failed; null after a success"
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="after a roll, the previous secret also signs until then"
    )
    created_at = serializers.DateTimeField()


class WebhookEndpointWithSecretSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(help_text="the signing secret (whsec_…): shown only in this answer")


class WebhookAttemptSerializer(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    url = serializers.CharField(help_text="the URL posted to (the last one, after redirects)")
    status_code = serializers.IntegerField(allow_null=True, help_text="null when nothing answered")
    duration_ms = serializers.IntegerField()
    error = serializers.CharField(help_text="why no answer came (timeout, refused address…), or empty")
    response_excerpt = serializers.CharField(help_text="the start of the answer's body")


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    event = serializers.UUIDField(source="event.public_id")
    event_type = serializers.ChoiceField(source="event.type", choices=WebhookEventType.choices)
    endpoint = serializers.UUIDField(source="endpoint.public_id")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempt_count = serializers.IntegerField(source="attempts")
    next_attempt_at = serializers.SerializerMethodField(help_text="while pending: when it is tried again")
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    attempts = WebhookAttemptSerializer(source="attempt_log", many=True)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_attempt_at(self, delivery: WebhookDelivery) -> str | None:
        if delivery.status != WebhookDelivery.Status.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


class WebhookEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    type = serializers.ChoiceField(choices=WebhookEventType.choices)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField(
        help_text='the body posted: {"id", "object": "event", "type", "created", "data": {"object"}}'
    )


# --- endpoints --------------------------------------------------------------------------------


@extend_schema_serializer(component_name="WebhookEndpointInput")
class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="https; its host must resolve to public addresses")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES),
        min_length=1,
        help_text=f'the event types to receive, or ["{ALL_EVENT_TYPES}"] for all',
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


@extend_schema_serializer(component_name="WebhookEndpointPatchInput")
class WebhookEndpointPatchSerializer(WebhookEndpointInputSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


def _endpoint(request, public_id) -> WebhookEndpoint:
    endpoint = selectors.webhook_endpoint_of(request.user.organisation, public_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookEndpointListCreateView(WebhookListView):
    """GET your webhook endpoints; POST a new one (its secret is in this answer only)."""

    serializer_class = WebhookEndpointOutputSerializer

    def get_queryset(self):
        return selectors.webhook_endpoints_of(self.request.user.organisation)

    @extend_schema(
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointWithSecretSerializer, **URL_ERRORS},
        summary="Register a webhook endpoint",
    )
    @idempotent
    def post(self, request):
        serializer = WebhookEndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(
            organisation=request.user.organisation, **serializer.validated_data
        )
        body = WebhookEndpointWithSecretSerializer({**_fields(endpoint), "secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


def _fields(endpoint: WebhookEndpoint) -> dict:
    return {name: getattr(endpoint, name) for name in (
        "public_id", "url", "description", "event_types", "status", "disabled_reason",
        "failing_since", "previous_secret_expires_at", "created_at",
    )}  # fmt: skip


class WebhookEndpointDetailView(WebhookView):
    @extend_schema(responses={200: WebhookEndpointOutputSerializer, **NOT_FOUND})
    def get(self, request, public_id):
        return Response(WebhookEndpointOutputSerializer(_endpoint(request, public_id)).data)

    @extend_schema(
        request=WebhookEndpointPatchSerializer,
        responses={200: WebhookEndpointOutputSerializer, **NOT_FOUND, **URL_ERRORS},
        summary="Change a webhook endpoint's URL, event types or description",
    )
    @idempotent
    def patch(self, request, public_id):
        serializer = WebhookEndpointPatchSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            organisation=request.user.organisation, endpoint_public_id=public_id, **serializer.validated_data
        )
        return Response(WebhookEndpointOutputSerializer(endpoint).data)

    @extend_schema(request=None, responses={204: None, **NOT_FOUND}, summary="Delete a webhook endpoint")
    @idempotent
    def delete(self, request, public_id):
        services.webhook_endpoint_delete(organisation=request.user.organisation, endpoint_public_id=public_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRollSecretView(WebhookView):
    @extend_schema(
        request=None,
        responses={200: WebhookEndpointWithSecretSerializer, **NOT_FOUND},
        summary="Roll the signing secret (the previous one signs too for 24 hours)",
    )
    @idempotent
    def post(self, request, public_id):
        endpoint, secret = services.webhook_endpoint_roll_secret(
            organisation=request.user.organisation, endpoint_public_id=public_id
        )
        return Response(WebhookEndpointWithSecretSerializer({**_fields(endpoint), "secret": secret}).data)


class WebhookEndpointEnableView(WebhookView):
    @extend_schema(
        request=None,
        responses={200: WebhookEndpointOutputSerializer, **NOT_FOUND},
        summary="Enable a disabled webhook endpoint",
    )
    @idempotent
    def post(self, request, public_id):
        endpoint = services.webhook_endpoint_enable(
            organisation=request.user.organisation, endpoint_public_id=public_id
        )
        return Response(WebhookEndpointOutputSerializer(endpoint).data)


class WebhookEndpointDisableView(WebhookView):
    @extend_schema(
        request=None,
        responses={200: WebhookEndpointOutputSerializer, **NOT_FOUND},
        summary="Disable a webhook endpoint (its pending deliveries fail)",
    )
    @idempotent
    def post(self, request, public_id):
        endpoint = services.webhook_endpoint_disable(
            organisation=request.user.organisation, endpoint_public_id=public_id
        )
        return Response(WebhookEndpointOutputSerializer(endpoint).data)


@extend_schema(summary="The deliveries to one endpoint with their attempts, newest first")
class WebhookEndpointDeliveriesView(WebhookListView):
    serializer_class = WebhookDeliveryOutputSerializer

    def get_queryset(self):
        return selectors.webhook_deliveries_of_endpoint(_endpoint(self.request, self.kwargs["public_id"]))


# --- events and deliveries --------------------------------------------------------------------


@extend_schema(
    parameters=[OpenApiParameter("type", enum=WebhookEventType.values, required=False)],
    summary="The webhook events of your organisation, newest first",
)
class WebhookEventListView(WebhookListView):
    serializer_class = WebhookEventOutputSerializer

    def get_queryset(self):
        wanted = self.request.query_params.get("type")
        if wanted and wanted not in WebhookEventType.values:
            raise serializers.ValidationError({"type": f"One of {', '.join(WebhookEventType.values)}."})
        return selectors.webhook_events_of(self.request.user.organisation, event_type=wanted or None)


def _event(request, public_id):
    event = selectors.webhook_event_of(request.user.organisation, public_id)
    if event is None:
        raise NotFound("No such webhook event.")
    return event


class WebhookEventDetailView(WebhookView):
    @extend_schema(responses={200: WebhookEventOutputSerializer, **NOT_FOUND})
    def get(self, request, public_id):
        return Response(WebhookEventOutputSerializer(_event(request, public_id)).data)


class WebhookEventDeliveriesView(WebhookView):
    @extend_schema(
        responses={200: WebhookDeliveryOutputSerializer(many=True), **NOT_FOUND},
        summary="An event's deliveries (one per endpoint) with every attempt",
    )
    def get(self, request, public_id):
        deliveries = selectors.webhook_deliveries_of_event(_event(request, public_id))
        return Response(WebhookDeliveryOutputSerializer(deliveries, many=True).data)


def _delivery(request, public_id) -> WebhookDelivery:
    delivery = selectors.webhook_delivery_of(request.user.organisation, public_id)
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


class WebhookDeliveryDetailView(WebhookView):
    @extend_schema(responses={200: WebhookDeliveryOutputSerializer, **NOT_FOUND})
    def get(self, request, public_id):
        return Response(WebhookDeliveryOutputSerializer(_delivery(request, public_id)).data)


class WebhookDeliveryRedeliverView(WebhookView):
    @extend_schema(
        request=None,
        responses={
            202: WebhookDeliveryOutputSerializer,
            **NOT_FOUND,
            409: error_response("`webhook_endpoint_disabled`: enable the endpoint first."),
        },
        summary="Send a delivery again now (one attempt)",
    )
    @idempotent
    def post(self, request, public_id):
        delivery = services.webhook_delivery_redeliver(
            organisation=request.user.organisation, delivery_public_id=public_id
        )
        return Response(
            WebhookDeliveryOutputSerializer(_delivery(request, delivery.public_id)).data,
            status=status.HTTP_202_ACCEPTED,
        )
