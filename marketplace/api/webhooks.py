"""Buyer API for outbound webhooks: endpoints (with their signing secret, shown at creation and
when rolled), the events sent, their deliveries and every attempt, and redelivery on request.
Every view needs the `webhooks:manage` scope; another organisation's ids answer 404."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
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


# --- examples (the schema's, shown in the reference documentation) ------------------------------

ENDPOINT_EXAMPLE = {
    "id": "7d0c1c9e-3f7a-4d55-9a8e-2b1f0c6d4e21",
    "url": "https://hooks.annonceur.example/courtier",
    "description": "production receiver",
    "event_types": ["trade.settled", "access.revoked"],
    "status": "enabled",
    "disabled_reason": "",
    "failing_since": None,
    "previous_secret_expires_at": None,
    "created_at": "2026-12-03T09:15:00+01:00",
}
ATTEMPT_EXAMPLE = {
    "attempted_at": "2026-12-03T09:20:01+01:00",
    "url": "https://hooks.annonceur.example/courtier",
    "status_code": 204,
    "duration_ms": 84,
    "error": "",
    "response_excerpt": "",
}
EVENT_EXAMPLE = {
    "id": "0b8f6a52-2c43-4a7e-8f0e-5d1c2b3a4f60",
    "type": "trade.settled",
    "created_at": "2026-12-03T09:20:00+01:00",
    "payload": {
        "id": "0b8f6a52-2c43-4a7e-8f0e-5d1c2b3a4f60",
        "object": "event",
        "type": "trade.settled",
        "created": 1796285200,
        "data": {
            "object": {"object": "trade", "id": "5f1e2d3c-4b5a-4968-8776-655443322110", "status": "settled"}
        },
    },
}
DELIVERY_EXAMPLE = {
    "id": "c3a9e0f1-5b6d-4c7e-8f90-a1b2c3d4e5f6",
    "event": EVENT_EXAMPLE["id"],
    "event_type": "trade.settled",
    "endpoint": ENDPOINT_EXAMPLE["id"],
    "status": "succeeded",
    "attempt_count": 1,
    "next_attempt_at": None,
    "last_status_code": 204,
    "last_error": "",
    "delivered_at": "2026-12-03T09:20:01+01:00",
    "created_at": "2026-12-03T09:20:00+01:00",
    "attempts": [ATTEMPT_EXAMPLE],
}


def _example(name: str, value: dict) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True)


# --- serializers ------------------------------------------------------------------------------


@extend_schema_serializer(examples=[_example("An endpoint", ENDPOINT_EXAMPLE)])
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


@extend_schema_serializer(
    examples=[_example("A new endpoint and its secret", {**ENDPOINT_EXAMPLE, "secret": "whsec_" + "x" * 43})]
)
class WebhookEndpointWithSecretSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(help_text="the signing secret (whsec_…): shown only in this answer")


class WebhookAttemptSerializer(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    url = serializers.CharField(help_text="the URL posted to (the last one, after redirects)")
    status_code = serializers.IntegerField(allow_null=True, help_text="null when nothing answered")
    duration_ms = serializers.IntegerField()
    error = serializers.CharField(help_text="why no answer came (timeout, refused address…), or empty")
    response_excerpt = serializers.CharField(help_text="the start of the answer's body")


@extend_schema_serializer(examples=[_example("A delivery", DELIVERY_EXAMPLE)])
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


@extend_schema_serializer(examples=[_example("An event", EVENT_EXAMPLE)])
class WebhookEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    type = serializers.ChoiceField(choices=WebhookEventType.choices)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField(
        help_text='the body posted: {"id", "object": "event", "type", "created", "data": {"object"}}'
    )


# --- endpoints --------------------------------------------------------------------------------

# http(s), then printable ASCII without spaces; whether the host is allowed is the service's check
# (422 webhook_url_forbidden), after the address it resolves to is known
URL_PATTERN = r"^https?://[!-~]+$"


@extend_schema_serializer(component_name="WebhookEndpointInput")
class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.RegexField(
        URL_PATTERN, max_length=2000, help_text="https; its host must resolve to public addresses"
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES),
        min_length=1,
        help_text=f'the event types to receive, or ["{ALL_EVENT_TYPES}"] for all',
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


@extend_schema_serializer(component_name="WebhookEndpointPatchInput")
class WebhookEndpointPatchSerializer(WebhookEndpointInputSerializer):
    url = serializers.RegexField(URL_PATTERN, max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


def _endpoint(request, public_id) -> WebhookEndpoint:
    endpoint = selectors.webhook_endpoint_of(request.user.organisation, public_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


@extend_schema_view(
    get=extend_schema(
        summary="Your organisation's webhook endpoints",
        description="Every endpoint, enabled or disabled, newest first (cursor pagination).",
    )
)
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
    @extend_schema(
        responses={200: WebhookEndpointOutputSerializer, **NOT_FOUND},
        summary="One webhook endpoint",
        description="Its URL, event types, status (disabled after failing for days) and, after a secret roll, "
        "until when the previous secret also signs. The secret itself is never shown again.",
    )
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
        if wanted is not None and wanted not in WebhookEventType.values:
            raise serializers.ValidationError({"type": f"One of {', '.join(WebhookEventType.values)}."})
        return selectors.webhook_events_of(self.request.user.organisation, event_type=wanted or None)


def _event(request, public_id):
    event = selectors.webhook_event_of(request.user.organisation, public_id)
    if event is None:
        raise NotFound("No such webhook event.")
    return event


class WebhookEventDetailView(WebhookView):
    @extend_schema(
        responses={200: WebhookEventOutputSerializer, **NOT_FOUND},
        summary="One webhook event",
        description="The event as it was posted (`payload`): the same body whatever the endpoint.",
    )
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
    @extend_schema(
        responses={200: WebhookDeliveryOutputSerializer, **NOT_FOUND},
        summary="One webhook delivery",
        description="An event's delivery to one endpoint: its status, next attempt and every attempt so far "
        "(status code, duration, error).",
    )
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
        examples=[
            OpenApiExample(
                "Queued again",
                value={**DELIVERY_EXAMPLE, "status": "pending", "delivered_at": None},
                response_only=True,
                status_codes=["202"],
            )
        ],
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
