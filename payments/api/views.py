"""Buyer API for payments: save a card (SetupIntent), see the saved card, follow payments.

Thin views: serializers validate, services write, selectors read. Buyers see payments by their
public id, never our primary keys.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiScope
from core.errors import NotFound
from core.idempotency import idempotent
from payments import selectors, services
from payments.models import Payment, StripeCustomer


def _organisation_id(request: Request) -> int:
    """The caller's organisation: IsBuyerMember, the API's default permission, admits only users
    that belong to one."""
    buyer: Any = request.user
    organisation_id: int = buyer.organisation.pk
    return organisation_id


class CardOutputSerializer(serializers.Serializer[StripeCustomer]):
    payment_method = serializers.CharField(source="default_payment_method_id")
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


class SetupIntentOutputSerializer(serializers.Serializer[dict[str, str]]):
    setup_intent = serializers.CharField(source="setup_intent_id")
    client_secret = serializers.CharField()
    status = serializers.CharField()


class PaymentMethodInputSerializer(serializers.Serializer[None]):
    payment_method = serializers.RegexField(r"^pm_\w{1,250}$", required=False)
    setup_intent = serializers.RegexField(r"^seti_\w{1,250}$", required=False)

    def validate(self, data: dict[str, str]) -> dict[str, str]:
        if bool(data.get("payment_method")) == bool(data.get("setup_intent")):
            raise serializers.ValidationError("Give either payment_method or setup_intent.")
        return data


class SetupIntentCreateView(APIView):
    required_scope = ApiScope.BIDS_WRITE  # saving the card bids are paid with

    @extend_schema(
        request=None,
        responses={201: SetupIntentOutputSerializer},
        summary="Start saving a card: confirm the returned client secret with Stripe.js",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        intent = services.payment_method_setup_intent_create(organisation_id=_organisation_id(request))
        return Response(SetupIntentOutputSerializer(intent).data, status=201)


class PaymentMethodView(APIView):
    required_scope = {"GET": ApiScope.BILLING_READ, "POST": ApiScope.BIDS_WRITE}

    @extend_schema(responses=CardOutputSerializer, summary="Your organisation's saved card")
    def get(self, request: Request) -> Response:
        customer = selectors.customer_of_organisation(organisation_id=_organisation_id(request))
        if customer is None or not customer.default_payment_method_id:
            raise NotFound("not_found", "No card saved yet.")
        return Response(CardOutputSerializer(customer).data)

    @extend_schema(
        request=PaymentMethodInputSerializer,
        responses=CardOutputSerializer,
        summary="Save a card as the default: a confirmed SetupIntent, or a payment method id",
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


class PaymentOutputSerializer(serializers.Serializer[Payment]):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    amount_captured = serializers.IntegerField()
    amount_refunded = serializers.IntegerField()
    status = serializers.CharField()
    failure_code = serializers.CharField()
    failure_message = serializers.CharField()
    next_action = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_next_action(self, payment: Payment) -> dict[str, str] | None:
        if payment.status != Payment.Status.REQUIRES_ACTION:
            return None
        return {
            "type": "authenticate",
            "client_secret": payment.client_secret,
            "detail": "Confirm this payment with Stripe.js (stripe.confirmCardPayment) to complete it.",
        }


class PaymentCursorPagination(CursorPagination):
    page_size = 50
    ordering = ("-created_at", "-id")


class PaymentListView(ListAPIView[Payment]):
    required_scope = ApiScope.BILLING_READ
    serializer_class = PaymentOutputSerializer
    pagination_class = PaymentCursorPagination

    @extend_schema(summary="Your organisation's payments, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Payment]:
        return selectors.payments_of_organisation(organisation_id=_organisation_id(self.request))


class PaymentDetailView(APIView):
    required_scope = ApiScope.BILLING_READ

    @extend_schema(
        responses=PaymentOutputSerializer, summary="One payment's status (and what to do if it needs you)"
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
