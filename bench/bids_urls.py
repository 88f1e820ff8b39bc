"""URLs for `make bench-bids` and `make bench-api`: the whole site plus two bench-only endpoints,
/bench/bare-bids/ (bench/bids.py) and /bench/bare/ (bench/api.py).

The bare endpoint is what the bid endpoint is measured against: DRF with the same API-key
authentication, scope check, verified-buyer permission and rate limiter, then one INSERT into `bench_bare_bid` (a table
shaped like marketplace_bid, created by bench/bids.py with raw SQL) through a raw cursor. No
validation beyond parsing, no lock, no lookup, no transaction block: the floor for a bid.
"""

import uuid

from django.db import connection
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.permissions import HasRequiredScope, IsVerifiedBuyer
from accounts.models import ApiScope

INSERT = (
    "INSERT INTO bench_bare_bid (public_id, organisation_id, kind, listing, amount_cents, currency, "
    "amount_set_at, purpose, licence_days, status, created_at) "
    "VALUES (%s, %s, 'auction', %s, %s, 'EUR', %s, 'targeted_advertising', 30, 'open', %s)"
)


class BareBidView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasRequiredScope, IsVerifiedBuyer]  # as the bid endpoint
    required_scope = ApiScope.BIDS_WRITE

    def post(self, request):
        public_id, now = uuid.uuid4(), timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT,
                [
                    public_id,
                    request.user.organisation.pk,
                    uuid.UUID(str(request.data["listing"])),
                    int(request.data["amount_cents"]),
                    now,
                    now,
                ],
            )
        return Response({"id": str(public_id)}, status=201)


class BareView(APIView):
    """What every API operation is measured against in bench/api.py: DRF with the API's default
    authentication, permission and throttles (REST_FRAMEWORK's defaults, as the operations get
    them), the body parsed when there is one, and a small JSON answer. No query beyond what
    authentication runs. It asks for a scope, as every operation does."""

    required_scope = ApiScope.LISTINGS_READ

    def get(self, request):
        return Response({"organisation": request.user.organisation.pk})

    def post(self, request):
        return Response({"organisation": request.user.organisation.pk, "fields": len(request.data)})


urlpatterns = [
    path("bench/bare-bids/", BareBidView.as_view()),
    path("bench/bare/", BareView.as_view()),
    path("", include("config.urls")),
]
