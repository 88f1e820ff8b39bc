"""URLs for `make bench-bids`: the whole site plus one bench-only endpoint, /bench/bare-bids/.

The bare endpoint is what the bid endpoint is measured against: DRF with the same API-key
authentication and verified-buyer permission, then one INSERT into `bench_bare_bid` (a table
shaped like marketplace_bid, created by bench/bids.py with raw SQL) through a raw cursor. No
validation beyond parsing, no lock, no lookup, no transaction block: the floor for a bid.
"""

import os
import uuid

from django.db import connection
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.permissions import IsVerifiedBuyer

INSERT = (
    "INSERT INTO bench_bare_bid (public_id, organisation_id, kind, listing, amount_cents, currency, "
    "amount_set_at, purpose, licence_days, status, created_at) "
    "VALUES (%s, %s, 'auction', %s, %s, 'EUR', %s, 'targeted_advertising', 30, 'open', %s)"
)


class BareBidView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsVerifiedBuyer]

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


def lock_joins_profile() -> None:
    """Experiment `lock-joins-profile` (BENCH_EXPERIMENT): what bid_place costs if the listing lock
    (marketplace.lock_objects, not changed here) joined the seller and their profile, so the
    consent and own-member checks read the locked row instead of a second query. The consent
    rule becomes the derived one segment sizing and listings_for_buyers already use: the
    listing's pairs are in sellable_mask and sellable_until is in the future."""
    from accounts import taxonomy
    from accounts.errors import Conflict, Forbidden
    from listings.models import Listing
    from marketplace import lock_objects, services

    def listing_by_public_id(public_id):
        return (
            Listing.objects.select_for_update(of=("self",))
            .select_related("seller__profile")
            .filter(public_id=public_id)
            .first()
        )

    def check_seller_side(listing, organisation, at):
        profile = listing.seller.profile
        needed = taxonomy.pairs_mask(listing.categories, listing.purposes)
        if (
            profile.sellable_mask & needed != needed
            or not profile.sellable_until
            or profile.sellable_until <= at
        ):
            raise Conflict("listing_not_open", "This listing is not open for bids.")
        if listing.seller.organisation_id == organisation.pk:
            raise Forbidden("own_data", "An organisation cannot buy its own members' data.")

    lock_objects.listing_by_public_id = listing_by_public_id
    services._check_seller_side = check_seller_side


EXPERIMENTS = {"lock-joins-profile": lock_joins_profile}
for name in filter(None, os.environ.get("BENCH_EXPERIMENT", "").split(",")):
    EXPERIMENTS[name]()

urlpatterns = [
    path("bench/bare-bids/", BareBidView.as_view()),
    path("", include("config.urls")),
]
