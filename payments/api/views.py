"""Buyer API for payments: save a card (SetupIntent), see the saved card, follow payments.

Thin views: serializers validate, services write, selectors read. Buyers see payments by their
public id, never our primary keys.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiScope
from core.api_errors import error_response
from core.errors import NotFound
from core.idempotency import idempotent
from core.pagination import StrictCursorPagination
from payments import selectors, services
from payments.models import Payment, StripeCustomer


def _organisation_id(request: Request) -> int:
    """The caller's organisation: IsBuyerMember, the API's default permission, admits only users
    that belong to one."""
    buyer: Any = request.user
    organisation_id: int = buyer.organisation.pk
    return organisation_id


STRIPE_UNAVAILABLE = error_response(
    "`stripe_unavailable`: Stripe could not be reached; nothing changed, retry later."
)

CARD_EXAMPLE = OpenApiExample(
    "A Visa card",
    value={
        "payment_method": "pm_1Q0PsIJvEtkwdCNY",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
    },
    response_only=True,
)


class CardOutputSerializer(serializers.Serializer[StripeCustomer]):
    payment_method = serializers.CharField(source="default_payment_method_id")
    brand = serializers.CharField(source="card_brand", help_text="visa, mastercard, …; may be empty")
    last4 = serializers.CharField(source="card_last4", help_text="may be empty")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


class SetupIntentOutputSerializer(serializers.Serializer[dict[str, str]]):
    setup_intent = serializers.CharField(source="setup_intent_id")
    client_secret = serializers.CharField()
    status = serializers.CharField(help_text="Stripe's SetupIntent status, e.g. requires_payment_method")


class PaymentMethodInputSerializer(serializers.Serializer[None]):
    """Validates; the schema documents its two shapes (`PAYMENT_METHOD_INPUT`, a oneOf)."""

    payment_method = serializers.RegexField(r"^pm_\w{1,250}$", required=False)
    setup_intent = serializers.RegexField(r"^seti_\w{1,250}$", required=False)

    def validate(self, data: dict[str, str]) -> dict[str, str]:
        if bool(data.get("payment_method")) == bool(data.get("setup_intent")):
            raise serializers.ValidationError("Give either payment_method or setup_intent.")
        return data


class PaymentMethodByIdSerializer(serializers.Serializer[None]):
    payment_method = serializers.RegexField(
        r"^pm_\w{1,250}$", help_text="a Stripe payment method id (test ids such as pm_card_visa work)"
    )


class PaymentMethodBySetupIntentSerializer(serializers.Serializer[None]):
    setup_intent = serializers.RegexField(
        r"^seti_\w{1,250}$", help_text="a SetupIntent from POST /payment-methods/setup-intent/, confirmed"
    )


PAYMENT_METHOD_INPUT = PolymorphicProxySerializer(
    component_name="PaymentMethodInput",
    serializers=[PaymentMethodByIdSerializer, PaymentMethodBySetupIntentSerializer],
    resource_type_field_name=None,
)


class SetupIntentCreateView(APIView):
    required_scope = ApiScope.BIDS_WRITE  # saving the card bids are paid with

    @extend_schema(
        request=None,
        responses={201: SetupIntentOutputSerializer, 503: STRIPE_UNAVAILABLE},
        summary="Start saving a card: confirm the returned client secret with Stripe.js",
        description="Creates a Stripe SetupIntent for your organisation's customer. Confirm its "
        "`client_secret` with Stripe.js (`stripe.confirmCardSetup`), then send the SetupIntent's "
        "id to POST /payment-methods/.",
        examples=[
            OpenApiExample(
                "A new SetupIntent",
                value={
                    "setup_intent": "seti_1Q0PsIJvEtkwdCNY",
                    "client_secret": "seti_1Q0PsIJvEtkwdCNY_secret_abc",
                    "status": "requires_payment_method",
                },
                response_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        intent = services.payment_method_setup_intent_create(organisation_id=_organisation_id(request))
        return Response(SetupIntentOutputSerializer(intent).data, status=201)


class PaymentMethodView(APIView):
    required_scope = {"GET": ApiScope.BILLING_READ, "POST": ApiScope.BIDS_WRITE}

    @extend_schema(
        responses={
            200: CardOutputSerializer,
            404: error_response("`payment_method_missing`: no card saved yet."),
        },
        summary="Your organisation's saved card",
        description="The default card that trades are charged to (brand, last four digits, expiry).",
        examples=[CARD_EXAMPLE],
    )
    def get(self, request: Request) -> Response:
        customer = selectors.customer_of_organisation(organisation_id=_organisation_id(request))
        if customer is None or not customer.default_payment_method_id:
            raise NotFound("not_found", "No card saved yet.")
        return Response(CardOutputSerializer(customer).data)

    @extend_schema(
        request=PAYMENT_METHOD_INPUT,
        responses={
            200: CardOutputSerializer,
            409: error_response("`setup_intent_not_succeeded`: confirm the SetupIntent first."),
            422: error_response(
                "`payment_method_unknown`, `setup_intent_unknown`, `payment_method_unsupported` "
                "(cards only), `payment_method_invalid`, `card_declined`, `payment_method_required`."
            ),
            503: STRIPE_UNAVAILABLE,
        },
        summary="Save a card as the default: a confirmed SetupIntent, or a payment method id",
        description="Exactly one of `setup_intent` (after Stripe.js confirmed it) or "
        "`payment_method`. The card becomes the default that trades are charged to.",
        examples=[
            OpenApiExample(
                "From a confirmed SetupIntent",
                value={"setup_intent": "seti_1Q0PsIJvEtkwdCNY"},
                request_only=True,
            ),
            CARD_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = PaymentMethodInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.payment_method_save(
            organisation_id=_organisation_id(request),
            payment_method_id=data.validated_data.get("payment_method"),
            setup_intent_id=data.validated_data.get("setup_intent"),
        )
        return Response(CardOutputSerializer(customer).data)


class NextActionSerializer(serializers.Serializer[None]):
    type = serializers.ChoiceField(choices=["authenticate"])
    client_secret = serializers.CharField()
    detail = serializers.CharField()


class PaymentOutputSerializer(serializers.Serializer[Payment]):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField()
    amount = serializers.IntegerField(help_text="in cents")
    currency = serializers.CharField()
    amount_captured = serializers.IntegerField()
    amount_refunded = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Payment.Status.choices)
    failure_code = serializers.CharField()
    failure_message = serializers.CharField()
    next_action = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, payment: Payment) -> dict[str, str] | None:
        if payment.status != Payment.Status.REQUIRES_ACTION:
            return None
        return {
            "type": "authenticate",
            "client_secret": payment.client_secret,
            "detail": "Confirm this payment with Stripe.js (stripe.confirmCardPayment) to complete it.",
        }


PAYMENT_EXAMPLE = {
    "id": "7b9e1d2c-4a3f-4e8b-9c0d-1e2f3a4b5c6d",
    "reference": "trade-group:7b9e1d2c",
    "amount": 2400,
    "currency": "eur",
    "amount_captured": 2400,
    "amount_refunded": 0,
    "status": "captured",
    "failure_code": "",
    "failure_message": "",
    "next_action": None,
    "created_at": "2026-12-03T10:00:00Z",
    "updated_at": "2026-12-03T10:00:05Z",
}


class PaymentCursorPagination(StrictCursorPagination):
    page_size_query_param = None
    ordering = ("-created_at", "-id")


class PaymentListView(ListAPIView[Payment]):
    required_scope = ApiScope.BILLING_READ
    serializer_class = PaymentOutputSerializer
    pagination_class = PaymentCursorPagination

    @extend_schema(
        summary="Your organisation's payments, newest first",
        description="One payment per settled group of trades: its amounts, status and, when the "
        "bank asks for authentication, `next_action`.",
        examples=[
            OpenApiExample(
                "A page of payments",
                value={"next": None, "previous": None, "results": [PAYMENT_EXAMPLE]},
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Payment]:
        return selectors.payments_of_organisation(organisation_id=_organisation_id(self.request))


class PaymentDetailView(APIView):
    required_scope = ApiScope.BILLING_READ

    @extend_schema(
        responses={
            200: PaymentOutputSerializer,
            404: error_response("`payment_unknown`: no such payment for your organisation."),
        },
        summary="One payment's status (and what to do if it needs you)",
        description="A payment by id. `requires_action`: confirm `next_action.client_secret` with Stripe.js.",
        examples=[OpenApiExample("A captured payment", value=PAYMENT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, public_id: UUID) -> Response:
        payment = (
            selectors.payments_of_organisation(organisation_id=_organisation_id(request))
            .filter(public_id=public_id)
            .first()
        )
        if payment is None:
            raise NotFound("not_found", "No such payment.")
        return Response(PaymentOutputSerializer(payment).data)
