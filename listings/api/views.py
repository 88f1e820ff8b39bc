"""Buyer API for listings and audience segments. Thin: serializers validate, selectors read."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import taxonomy
from accounts.models import ApiScope
from accounts.taxonomy import DataCategory, Purpose
from core.idempotency import idempotent
from core.pagination import StrictCursorPagination
from listings import selectors
from listings.models import Listing


class ListingCursorPagination(StrictCursorPagination):
    # 20 a page unless `page_size` says otherwise (up to 200), as list APIs commonly default to
    # a screenful (Stripe's to 10): a browse rarely reads past the first page.
    page_size = 20
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
    categories = serializers.ListField(child=serializers.ChoiceField(choices=DataCategory.choices))
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=Purpose.choices))
    licence_days = serializers.ChoiceField(choices=taxonomy.LICENCE_DAYS)
    pricing_mode = serializers.ChoiceField(choices=Listing.PricingMode.choices)
    floor_price_cents = serializers.IntegerField(
        help_text="fixed: the price per record; auction: the lowest bid"
    )
    currency = serializers.CharField()
    auction_ends_at = serializers.DateTimeField(allow_null=True, help_text="auctions only")
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
    category = serializers.ChoiceField(choices=DataCategory.choices, required=False)
    purpose = serializers.ChoiceField(choices=Purpose.choices, required=False)
    pricing_mode = serializers.ChoiceField(choices=Listing.PricingMode.choices, required=False)
    min_price_cents = serializers.IntegerField(min_value=0, max_value=100_000_00, required=False)
    max_price_cents = serializers.IntegerField(min_value=0, max_value=100_000_00, required=False)
    age_band = serializers.ChoiceField(choices=taxonomy.AgeBand.choices, required=False)
    gender = serializers.ChoiceField(choices=taxonomy.Gender.choices, required=False)
    region = serializers.ChoiceField(choices=taxonomy.Region.choices, required=False)
    mobile_os = serializers.ChoiceField(choices=taxonomy.MobileOS.choices, required=False)
    mobile_operator = serializers.ChoiceField(choices=taxonomy.MobileOperator.choices, required=False)
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS), required=False, help_text="newest (default), oldest, price, -price"
    )


LISTING_EXAMPLE = {
    "id": "3f1c2a4e-8b7d-4c55-9a10-2f6e0d9b7c41",
    "categories": ["demographics", "location"],
    "purposes": ["targeted_advertising"],
    "licence_days": 30,
    "pricing_mode": "auction",
    "floor_price_cents": 1000,
    "currency": "eur",
    "auction_ends_at": "2026-12-04T18:00:00Z",
    "created_at": "2026-12-03T09:30:00Z",
    "attributes": {"age_band": "25-34", "gender": "female", "region": "FR-IDF"},
}


@extend_schema(
    parameters=[ListingFilterSerializer],
    responses=ListingOutputSerializer(many=True),
    summary="Browse active listings (no seller identity, contact or precise values)",
    description="Active listings, newest first unless `ordering` says otherwise, filtered by "
    "category, purpose, pricing mode, price and the sellers' coarse attributes. Cursor "
    "pagination: follow `next`.",
    examples=[
        OpenApiExample(
            "A page of listings",
            value={"next": None, "previous": None, "results": [LISTING_EXAMPLE]},
            response_only=True,
        )
    ],
)
class ListingListView(ListAPIView):
    required_scope = ApiScope.LISTINGS_READ
    serializer_class = ListingOutputSerializer
    pagination_class = ListingCursorPagination

    def get_queryset(self):
        # a plain dict: an empty value (`?region=`) is refused, not taken for an absent one
        filters = ListingFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        params = dict(filters.validated_data)
        ordering = ORDERINGS[params.pop("ordering", "newest")]
        self.paginator.ordering = ordering
        return selectors.listing_filter(selectors.listings_for_buyers(), **params).order_by(*ordering)


class ListingDetailView(APIView):
    required_scope = ApiScope.LISTINGS_READ

    @extend_schema(
        responses=ListingOutputSerializer,
        summary="One active listing",
        description="An active listing by id; 404 once it is sold, withdrawn or closed.",
        examples=[OpenApiExample("An auction", value=LISTING_EXAMPLE, response_only=True)],
    )
    def get(self, request, public_id):
        listing = selectors.listings_for_buyers().filter(public_id=public_id).first()
        if listing is None:
            from rest_framework.exceptions import NotFound

            raise NotFound("No such listing.")
        return Response(ListingOutputSerializer(listing).data)


class SegmentCriteriaSerializer(serializers.Serializer):
    refuses_unknown_fields = True  # see validate(); the schema says additionalProperties: false

    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DataCategory.choices), min_length=1, max_length=7
    )
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    licence_days = serializers.ChoiceField(choices=taxonomy.LICENCE_DAYS, default=30)
    age_bands = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.AgeBand.choices), required=False
    )
    genders = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.Gender.choices), required=False
    )
    regions = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.Region.choices), required=False
    )
    mobile_os = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.MobileOS.choices), required=False
    )
    mobile_operators = serializers.ListField(
        child=serializers.ChoiceField(choices=taxonomy.MobileOperator.choices), required=False
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


SEGMENT_EXAMPLE = OpenApiExample(
    "Women in Île-de-France, for targeted advertising",
    value={
        "categories": ["demographics", "location"],
        "purpose": "targeted_advertising",
        "licence_days": 30,
        "genders": ["female"],
        "regions": ["FR-IDF"],
    },
    request_only=True,
)
PRICE_EXAMPLE = {
    "currency": "eur",
    "p25_cents": 80,
    "p50_cents": 120,
    "p75_cents": 190,
    "source": "active_listings",
}


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
        description="How many consenting sellers match the criteria for the purpose, rounded; "
        "below the floor K only `fewer_than: K`. Throttled per organisation.",
        examples=[
            SEGMENT_EXAMPLE,
            OpenApiExample(
                "A segment above K",
                value={"count": 1200, "fewer_than": None, "rounded": True, "price_estimate": PRICE_EXAMPLE},
                response_only=True,
            ),
        ],
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
        description="From the active listings selling these categories for this purpose, or "
        "from the valuation model when fewer than K do. Throttled per organisation.",
        examples=[SEGMENT_EXAMPLE, OpenApiExample("An estimate", value=PRICE_EXAMPLE, response_only=True)],
    )
    @idempotent
    def post(self, request):
        serializer = SegmentCriteriaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(selectors.segment_price_estimate_cached(serializer.criteria()))
