"""Buyer API for listings and audience segments. Thin: serializers validate, selectors read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import taxonomy
from accounts.models import ApiScope
from accounts.taxonomy import DataCategory, Purpose
from core.idempotency import idempotent
from listings import selectors
from listings.models import Listing


class ListingCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")


ORDERINGS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "price": ("floor_price_cents", "id"),
    "-price": ("-floor_price_cents", "-id"),
}

ATTRIBUTES_SHOWN = {  # coarse attributes a listing shows, only for the categories it sells
    DataCategory.DEMOGRAPHICS: ("age_band", "gender"),
    DataCategory.LOCATION: ("region",),
    DataCategory.DEVICE: ("mobile_os",),
    DataCategory.TELECOM: ("mobile_operator",),
    DataCategory.INTERESTS: ("interests",),
    DataCategory.CONTENT_AFFINITY: ("affinities",),
}


class ListingOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    categories = serializers.ListField(child=serializers.CharField())
    purposes = serializers.ListField(child=serializers.CharField())
    licence_days = serializers.IntegerField()
    pricing_mode = serializers.CharField()
    floor_price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    auction_ends_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    attributes = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": True,
            "description": "coarse attributes of the sold categories",
        }
    )
    def get_attributes(self, listing: Listing) -> dict[str, object]:
        # the profile_<name> columns of selectors.listings_for_buyers
        shown: dict[str, object] = {}
        for category in listing.categories:
            for name in ATTRIBUTES_SHOWN.get(category, ()):
                if name == "interests":
                    shown[name] = taxonomy.codes_of(listing.profile_interests_mask, taxonomy.INTEREST_CODES)
                elif name == "affinities":
                    shown[name] = taxonomy.codes_of(listing.profile_affinities_mask, taxonomy.AFFINITY_CODES)
                else:
                    shown[name] = getattr(listing, f"profile_{name}")
        return shown


class ListingFilterSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=DataCategory.values, required=False)
    purpose = serializers.ChoiceField(choices=Purpose.values, required=False)
    pricing_mode = serializers.ChoiceField(choices=Listing.PricingMode.values, required=False)
    min_price_cents = serializers.IntegerField(min_value=0, max_value=100_000_00, required=False)
    max_price_cents = serializers.IntegerField(min_value=0, max_value=100_000_00, required=False)
    age_band = serializers.ChoiceField(choices=taxonomy.AgeBand.values, required=False)
    gender = serializers.ChoiceField(choices=taxonomy.Gender.values, required=False)
    region = serializers.ChoiceField(choices=taxonomy.Region.values, required=False)
    mobile_os = serializers.ChoiceField(choices=taxonomy.MobileOS.values, required=False)
    mobile_operator = serializers.ChoiceField(choices=taxonomy.MobileOperator.values, required=False)
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False)

    def validate(self, data):
        low, high = data.get("min_price_cents"), data.get("max_price_cents")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_price_cents": "Must be at least min_price_cents."})
        return data


@extend_schema(
    parameters=[ListingFilterSerializer],
    responses=ListingOutputSerializer(many=True),
    summary="Browse active listings (no seller identity, contact or precise values)",
)
class ListingListView(ListAPIView):
    required_scope = ApiScope.LISTINGS_READ
    serializer_class = ListingOutputSerializer
    pagination_class = ListingCursorPagination

    def get_queryset(self):
        filters = ListingFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        params = dict(filters.validated_data)
        ordering = ORDERINGS[params.pop("ordering", "newest")]
        self.paginator.ordering = ordering
        return selectors.listing_filter(selectors.listings_for_buyers(), **params).order_by(*ordering)


class ListingDetailView(APIView):
    required_scope = ApiScope.LISTINGS_READ

    @extend_schema(responses=ListingOutputSerializer, summary="One active listing")
    def get(self, request, public_id):
        listing = selectors.listings_for_buyers().filter(public_id=public_id).first()
        if listing is None:
            from rest_framework.exceptions import NotFound

            raise NotFound("No such listing.")
        return Response(ListingOutputSerializer(listing).data)


class SegmentCriteriaSerializer(serializers.Serializer):
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DataCategory.values), min_length=1, max_length=7
    )
    purpose = serializers.ChoiceField(choices=Purpose.values)
    licence_days = serializers.ChoiceField(choices=taxonomy.LICENCE_DAYS, default=30)
    age_bands = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.AgeBand.values), required=False
    )
    genders = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.Gender.values), required=False
    )
    regions = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.Region.values), required=False
    )
    mobile_os = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.MobileOS.values), required=False
    )
    mobile_operators = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.MobileOperator.values), required=False
    )
    interests = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.INTEREST_CODES), required=False
    )
    interests_match = serializers.ChoiceField(choices=["any", "all"], default="any")
    affinities = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.AFFINITY_CODES), required=False
    )

    def validate(self, data):
        # nested in another serializer there is no initial_data: the parent passes it on
        initial = getattr(self, "initial_data", None) or {}
        unknown = set(initial) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "Unknown criterion." for name in sorted(unknown)})
        return data

    def criteria(self) -> selectors.SegmentCriteria:
        return selectors.SegmentCriteria(**self.validated_data)


class PriceEstimateSerializer(serializers.Serializer):
    currency = serializers.CharField()
    p25_cents = serializers.IntegerField()
    p50_cents = serializers.IntegerField()
    p75_cents = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["active_listings", "valuation_model"])


class SegmentSizeOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(allow_null=True, help_text="Rounded; null when below the floor K")
    fewer_than = serializers.IntegerField(allow_null=True, help_text="K, when the segment is smaller")
    rounded = serializers.BooleanField()
    price_estimate = PriceEstimateSerializer()


class SegmentSizeView(APIView):
    required_scope = ApiScope.SEGMENTS_READ
    rate_limits = {"segment-sizing": "SEGMENT_SIZING_RATE"}  # per organisation (accounts.rate_limits)

    @extend_schema(
        request=SegmentCriteriaSerializer,
        responses=SegmentSizeOutputSerializer,
        summary="Size an audience segment (counts below K are never revealed) and estimate its price",
    )
    @idempotent
    def post(self, request):
        serializer = SegmentCriteriaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        criteria = serializer.criteria()
        size = selectors.segment_size(criteria)
        size["price_estimate"] = selectors.segment_price_estimate_cached(criteria)
        return Response(size)


class SegmentEstimateView(APIView):
    required_scope = ApiScope.SEGMENTS_READ
    rate_limits = {"segment-sizing": "SEGMENT_SIZING_RATE"}  # per organisation (accounts.rate_limits)

    @extend_schema(
        request=SegmentCriteriaSerializer,
        responses=PriceEstimateSerializer,
        summary="Floor prices per record at p25 / p50 / p75 for a segment",
    )
    @idempotent
    def post(self, request):
        serializer = SegmentCriteriaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(selectors.segment_price_estimate_cached(serializer.criteria()))
