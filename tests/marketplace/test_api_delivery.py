"""Data delivery through the buyer API: purchased records (paginated, decrypted at read, only the
purchased categories, pseudonymous sellers), the access log, 410 once a licence or consent ends,
404 for another organisation's rows, constant query counts, and the seller's view of sales.

Settlement (payments) is not ready, so trades are delivered by `deliver`, a test fixture that
stands in for settlement's delivery step.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts import taxonomy
from accounts.models import ApiKey, ConsentGrant, User
from listings import services as listing_services
from listings.selectors import SegmentCriteria
from marketplace import selectors, services, tasks
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice, Trade, TradeLine
from tests.factories import PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.problems import fields_at_fault

pytestmark = pytest.mark.django_db(transaction=True)

CATEGORIES = ["demographics", "location"]
PURPOSE = "targeted_advertising"


# ---------------------------------------------------------------------------------------------
# Helpers shared with the other marketplace API test modules
# ---------------------------------------------------------------------------------------------


def deliver(trade: Trade) -> list[AccessGrant]:
    """Test fixture standing in for settlement (marketplace.settlement, not ready yet).

    Does what settlement's delivery step does, without the payment: for a trade in
    pending_payment, under select_for_update, marks its pending lines delivered, creates one
    AccessGrant per line (organisation, seller, trade line, categories mask, purpose,
    starts_at=now, ends_at=now + licence) and moves the trade pending_payment → paid → delivered
    with services.trade_transition, the one service that changes a trade's status.
    """
    with transaction.atomic():
        (trade,) = Trade.objects.select_for_update().filter(pk=trade.pk)
        assert trade.status == Trade.Status.PENDING_PAYMENT, trade.status
        lines = list(
            TradeLine.objects.select_for_update()
            .filter(trade=trade, status=TradeLine.Status.PENDING)
            .order_by("pk")
        )
        now = timezone.now()
        grants = AccessGrant.objects.bulk_create(
            AccessGrant(
                organisation_id=trade.organisation_id,
                seller_id=line.seller_id,
                trade_line=line,
                categories_mask=line.categories_mask,
                purpose=trade.purpose,
                starts_at=now,
                ends_at=now + timedelta(days=trade.licence_days),
            )
            for line in lines
        )
        TradeLine.objects.filter(pk__in=[line.pk for line in lines]).update(status=TradeLine.Status.DELIVERED)
        services.trade_transition(trade, Trade.Status.PAID, "test fixture: payment skipped")
        services.trade_transition(trade, Trade.Status.DELIVERED, f"access granted for {len(lines)} records")
    return grants


def audience_sellers(count: int, categories=CATEGORIES, **profile) -> list[User]:
    """Sellers who consent to `categories` for PURPOSE and offer them to audience bundles."""
    sellers = [make_seller(categories=categories, **profile) for _ in range(count)]
    for seller in sellers:
        listing_services.audience_optin_update(
            seller=seller, categories=list(categories), explicit_sensitive="life_events" in categories
        )
    return sellers


def bundle_trade(organisation, *, records: int, categories=CATEGORIES, licence_days: int = 30) -> Trade:
    """An audience bundle bought by `organisation` (cleared now), in pending_payment."""
    bid = services.audience_bid_place(
        organisation=organisation,
        criteria=SegmentCriteria(categories=list(categories), purpose=PURPOSE, licence_days=licence_days),
        max_price_cents=100_000,
        max_records=records,
        expires_at=timezone.now() + timedelta(days=1),
    )
    trade = services.audience_bid_clear(bid_id=bid.pk)
    assert trade is not None and trade.lines.count() == records
    return trade


def bought_listing(organisation, **listing) -> Trade:
    listing = active_listing(pricing_mode="fixed", **listing)
    bid = services.bid_place(organisation=organisation, listing_public_id=listing.public_id)
    return Trade.objects.get(bid=bid)


def consent_of(seller: User, category: str, purpose: str = PURPOSE) -> ConsentGrant:
    return ConsentGrant.objects.get(seller=seller, category=category, purpose=purpose, status="active")


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """Celery messages the code under test sends at commit, recorded instead of sent: no worker
    runs here, and a worker of another test run on the shared broker must not get them."""
    sent: dict[str, list] = {"trades_settle": [], "audience_bid_clear": []}
    for name in sent:
        monkeypatch.setattr(
            getattr(tasks, name),
            "delay_on_commit",
            lambda *args, name=name: transaction.on_commit(lambda: sent[name].append(args)),
        )
    return sent


@pytest.fixture(autouse=True)
def small_k(settings):
    settings.SEGMENT_MIN_SIZE = 2


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def test_records_are_paginated_decrypted_and_limited_to_the_purchased_categories(api_client_for):
    buyer = PayingOrganisationFactory()
    sellers = audience_sellers(3)
    for seller in sellers:  # data the buyer did not buy: never in the records
        account_services.seller_profile_update(seller=seller, phone="+33612345678")
        account_services.life_event_set(seller=seller, kind="new_job", details="starts in May")
    trade = bundle_trade(buyer, records=3)
    grants = {g.seller_id: g for g in deliver(trade)}
    client = api_client_for(buyer)
    key = ApiKey.objects.get(organisation=buyer)

    first = client.get(f"/api/v1/trades/{trade.public_id}/records/?page_size=2")
    second = client.get(first.json()["next"])

    assert first.status_code == 200 and second.status_code == 200
    assert len(first.json()["results"]) == 2 and first.json()["previous"] is None
    assert len(second.json()["results"]) == 1 and second.json()["next"] is None
    records = first.json()["results"] + second.json()["results"]
    by_pseudonym = {selectors.buyer_pseudonym(buyer.pk, s.pk): s for s in sellers}
    assert sorted(r["seller"] for r in records) == sorted(by_pseudonym)
    band = taxonomy.age_band_for(date(1990, 1, 1), timezone.localdate())
    for record in records:
        grant = grants[by_pseudonym[record["seller"]].pk]
        assert record == {
            "seller": record["seller"],
            "grant": str(grant.public_id),
            "categories": ["demographics", "location"],
            "purpose": PURPOSE,
            "licence_ends_at": record["licence_ends_at"],
            "data": {
                "age_band": band,
                "gender": "female",
                "birth_date": "1990-01-01",
                "region": "FR-IDF",
                "postcode": "75011",
            },
        }
        assert record["licence_ends_at"][:19] == timezone.localtime(grant.ends_at).isoformat()[:19]
    body = (first.content + second.content).decode()
    for seller in sellers:
        for secret in (seller.email, str(seller.pseudonym), "+33612345678", "starts in May", "new_job"):
            assert secret not in body
    # every read is logged, once per record served, with the key that read it
    reads = list(AccessLog.objects.values_list("grant_id", "api_key_id"))
    assert sorted(reads) == sorted((g.pk, key.pk) for g in grants.values())


def test_pseudonyms_are_stable_per_organisation_and_differ_across_organisations(api_client_for):
    buyer_a, buyer_b = PayingOrganisationFactory(), PayingOrganisationFactory()
    sellers = audience_sellers(2)
    trade_a, trade_b = bundle_trade(buyer_a, records=2), bundle_trade(buyer_b, records=2)
    deliver(trade_a)
    deliver(trade_b)
    client_a, client_b = api_client_for(buyer_a), api_client_for(buyer_b)

    def pseudonyms(client, trade) -> dict[str, str]:
        records = client.get(f"/api/v1/trades/{trade.public_id}/records/").json()["results"]
        return {r["grant"]: r["seller"] for r in records}

    a_first, a_again, b = (
        pseudonyms(client_a, trade_a),
        pseudonyms(client_a, trade_a),
        pseudonyms(client_b, trade_b),
    )

    assert a_first == a_again
    assert set(a_first.values()) == {selectors.buyer_pseudonym(buyer_a.pk, s.pk) for s in sellers}
    assert set(b.values()) == {selectors.buyer_pseudonym(buyer_b.pk, s.pk) for s in sellers}
    assert not set(a_first.values()) & set(b.values())
    # the grant list names sellers the same way as the records
    listed = client_a.get("/api/v1/access-grants/").json()["results"]
    assert {g["id"]: g["seller"] for g in listed} == a_first


def test_records_before_delivery_answer_409_and_log_nothing(api_client_for):
    buyer = PayingOrganisationFactory()
    trade = bought_listing(buyer)

    response = api_client_for(buyer).get(f"/api/v1/trades/{trade.public_id}/records/")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": f"{settings.SITE_URL}/api/problems/trade_not_delivered/",
        "title": "Trade not delivered",
        "status": 409,
        "detail": "This trade is pending_payment: no data yet.",
        "instance": f"/api/v1/trades/{trade.public_id}/records/",
        "code": "trade_not_delivered",
    }
    assert not AccessLog.objects.exists()


def test_revoked_then_expired_grants_answer_410_gone(api_client_for):
    buyer = PayingOrganisationFactory()
    kept, revoking = audience_sellers(2)
    trade = bundle_trade(buyer, records=2)
    grants = {g.seller_id: g for g in deliver(trade)}
    client = api_client_for(buyer)

    account_services.consent_revoke(seller=revoking, grant_id=consent_of(revoking, "location").pk)

    records = client.get(f"/api/v1/trades/{trade.public_id}/records/").json()["results"]
    assert [r["grant"] for r in records] == [str(grants[kept.pk].public_id)]
    gone = client.get(f"/api/v1/access-grants/{grants[revoking.pk].public_id}/")
    assert gone.status_code == 410 and gone.json()["code"] == "gone"
    assert list(AccessLog.objects.values_list("grant_id", flat=True)) == [grants[kept.pk].pk]

    # the licence of the other one ends: before and after the housekeeping sweep, 410
    AccessGrant.objects.filter(pk=grants[kept.pk].pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/api/v1/trades/{trade.public_id}/records/").status_code == 410
    assert client.get(f"/api/v1/access-grants/{grants[kept.pk].public_id}/").status_code == 410
    assert services.access_grants_expire() == 1
    assert AccessGrant.objects.get(pk=grants[kept.pk].pk).status == AccessGrant.Status.EXPIRED
    assert client.get(f"/api/v1/trades/{trade.public_id}/records/").status_code == 410
    assert AccessLog.objects.count() == 1


def test_consent_that_ended_before_the_sweep_ran_is_never_served(api_client_for):
    buyer = PayingOrganisationFactory()
    (seller,) = audience_sellers(1)
    (other,) = audience_sellers(1)
    trade = bundle_trade(buyer, records=2)
    grants = {g.seller_id: g for g in deliver(trade)}
    past = timezone.now() - timedelta(seconds=5)
    ConsentGrant.objects.filter(pk=consent_of(seller, "demographics").pk).update(
        granted_at=past - timedelta(days=90), expires_at=past
    )
    client = api_client_for(buyer)

    single = client.get(f"/api/v1/access-grants/{grants[seller.pk].public_id}/")
    records = client.get(f"/api/v1/trades/{trade.public_id}/records/").json()["results"]

    assert single.status_code == 410
    assert [r["grant"] for r in records] == [str(grants[other.pk].public_id)]
    assert (
        AccessGrant.objects.get(pk=grants[seller.pk].pk).status == AccessGrant.Status.ACTIVE
    )  # no sweep yet
    assert not AccessLog.objects.filter(grant=grants[seller.pk]).exists()
    # a trade whose every record lost its consent answers 410 as a whole
    ConsentGrant.objects.filter(pk=consent_of(other, "location").pk).update(
        granted_at=past - timedelta(days=90), expires_at=past
    )
    gone = client.get(f"/api/v1/trades/{trade.public_id}/records/")
    assert (gone.status_code, gone.json()["code"]) == (410, "gone")
    assert AccessLog.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/bids/{bid}/"),
        ("patch", "/api/v1/bids/{bid}/"),
        ("delete", "/api/v1/bids/{bid}/"),
        ("get", "/api/v1/trades/{trade}/"),
        ("get", "/api/v1/trades/{trade}/records/"),
        ("get", "/api/v1/access-grants/{grant}/"),
        ("get", "/api/v1/deletion-notices/{notice}/"),
        ("post", "/api/v1/deletion-notices/{notice}/acknowledge/"),
    ],
)
def test_buyer_b_asking_for_buyer_a_rows_gets_404(api_client_for, method, path):
    buyer_a, buyer_b = PayingOrganisationFactory(), PayingOrganisationFactory()
    bid = services.bid_place(
        organisation=buyer_a, listing_public_id=active_listing(floor=1000).public_id, amount_cents=1500
    )
    leaving, staying = audience_sellers(2)
    trade = bundle_trade(buyer_a, records=2)
    grant = next(g for g in deliver(trade) if g.seller_id == staying.pk)
    account_services.consent_revoke(seller=leaving, grant_id=consent_of(leaving, "location").pk)
    notice = DeletionNotice.objects.get(organisation=buyer_a)
    url = path.format(
        bid=bid.public_id, trade=trade.public_id, grant=grant.public_id, notice=notice.public_id
    )

    response = getattr(api_client_for(buyer_b), method)(url, {"amount_cents": 5000}, format="json")

    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    bid.refresh_from_db()
    assert (bid.status, bid.amount_cents) == (Bid.Status.OPEN, 1500)
    assert DeletionNotice.objects.get(pk=notice.pk).status == DeletionNotice.Status.SENT
    assert not AccessLog.objects.exists()
    for listing_path in (
        "/api/v1/bids/",
        "/api/v1/trades/",
        "/api/v1/access-grants/",
        "/api/v1/deletion-notices/",
    ):
        assert api_client_for(buyer_b).get(listing_path).json()["results"] == []


def test_access_grants_list_own_grants_with_a_status_filter(api_client_for):
    buyer, other_buyer = PayingOrganisationFactory(), PayingOrganisationFactory()
    revoking, kept = audience_sellers(2)
    grants = {g.seller_id: g for g in deliver(bundle_trade(buyer, records=2))}
    deliver(bundle_trade(other_buyer, records=2))
    account_services.consent_revoke(seller=revoking, grant_id=consent_of(revoking, "demographics").pk)
    client = api_client_for(buyer)

    everything = client.get("/api/v1/access-grants/").json()["results"]
    active = client.get("/api/v1/access-grants/?status=active").json()["results"]
    revoked = client.get("/api/v1/access-grants/?status=revoked").json()["results"]
    bad = client.get("/api/v1/access-grants/?status=whatever")

    assert sorted(g["id"] for g in everything) == sorted(str(g.public_id) for g in grants.values())
    assert [g["id"] for g in active] == [str(grants[kept.pk].public_id)]
    (gone,) = revoked
    assert gone["id"] == str(grants[revoking.pk].public_id)
    assert gone["revoked_reason"] == "consent revoked" and gone["revoked_at"] is not None
    assert gone["categories"] == CATEGORIES and gone["purpose"] == PURPOSE
    assert bad.status_code == 400 and fields_at_fault(bad) == {"status"}


# ---------------------------------------------------------------------------------------------
# Query counts: constant as data grows
# ---------------------------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def test_records_query_count_is_the_same_for_2_and_20_records(api_client_for):
    buyer = PayingOrganisationFactory()
    audience_sellers(2)
    small = bundle_trade(buyer, records=2)
    deliver(small)
    audience_sellers(18)
    large = bundle_trade(buyer, records=20)
    grants = deliver(large)
    client = api_client_for(buyer)
    client.get("/api/v1/trades/")  # the key's first use records last_used_at: not a per-read cost

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/trades/{large.public_id}/records/")
    large_queries = len(captured.captured_queries)
    small_queries = _queries(client, f"/api/v1/trades/{small.public_id}/records/")

    assert len(response.json()["results"]) == 20
    assert large_queries == small_queries
    # key, the page (of the organisation's trade), consent, the sellers' profiles and data keys,
    # BEGIN, access log, COMMIT (the trade itself only when the page is empty: 404, 409 or 410)
    assert large_queries == 7, "\n".join(q["sql"][:150] for q in captured.captured_queries)
    assert AccessLog.objects.filter(grant__in=grants).count() == 20


def test_one_record_is_read_in_five_statements(api_client_for):
    buyer = PayingOrganisationFactory()
    trade = bought_listing(buyer)
    (grant,) = deliver(trade)
    client = api_client_for(buyer)
    client.get("/api/v1/trades/")  # the key's first use records last_used_at: not a per-read cost

    for url in (f"/api/v1/trades/{trade.public_id}/records/", f"/api/v1/access-grants/{grant.public_id}/"):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, response.content
        # key, the grant, its seller's consent, profile and data key, one autocommitted
        # access-log INSERT: no transaction for one row
        statements = [q["sql"] for q in captured.captured_queries]
        assert len(statements) == 5, "\n".join(s[:150] for s in statements)
        assert statements[-1].startswith('INSERT INTO "marketplace_accesslog"')
    assert AccessLog.objects.filter(grant=grant).count() == 2


@pytest.mark.parametrize(
    "path", ["/api/v1/bids/", "/api/v1/trades/", "/api/v1/access-grants/", "/api/v1/deletion-notices/"]
)
def test_list_query_counts_do_not_grow_with_rows(api_client_for, path):
    buyer = PayingOrganisationFactory()
    client = api_client_for(buyer)
    client.get(path)

    def grow():  # one more of everything: a bundle delivered, an auction bid, a deletion notice
        audience_sellers(2)
        trade = bundle_trade(buyer, records=2)
        deliver(trade)
        services.bid_place(
            organisation=buyer, listing_public_id=active_listing(floor=1000).public_id, amount_cents=1000
        )
        leaving = trade.lines.order_by("pk").first().seller
        account_services.consent_revoke(seller=leaving, grant_id=consent_of(leaving, "location").pk)

    grow()
    few = _queries(client, path)
    for _ in range(3):
        grow()
    many = _queries(client, path)

    assert len(client.get(path).json()["results"]) > 1
    assert many == few <= 3


# ---------------------------------------------------------------------------------------------
# Transparency: who bought my data
# ---------------------------------------------------------------------------------------------


def test_seller_sales_shows_buyer_purpose_categories_price_dates_and_reads(api_client_for):
    buyer = PayingOrganisationFactory(legal_name="Annonces Lumière SAS")
    listing = active_listing(pricing_mode="fixed", floor=700)
    seller = listing.seller
    trade = Trade.objects.get(bid=services.bid_place(organisation=buyer, listing_public_id=listing.public_id))
    (grant,) = deliver(trade)
    client = api_client_for(buyer)
    client.get(f"/api/v1/trades/{trade.public_id}/records/")
    client.get(f"/api/v1/access-grants/{grant.public_id}/")
    other = audience_sellers(2)  # another seller's sale, and a sale not delivered yet, are not listed
    deliver(bundle_trade(buyer, records=2))
    bought_listing(PayingOrganisationFactory(), seller=other[0])

    (sale,) = selectors.seller_sales(seller=seller)

    assert sale.trade.organisation.legal_name == "Annonces Lumière SAS"
    assert sale.trade.purpose == PURPOSE and sale.categories == CATEGORIES
    assert sale.price_cents == 700 and sale.trade.created_at == trade.created_at
    assert sale.access_grant.ends_at == grant.ends_at
    assert sale.reads == 2
    assert sale.last_read == AccessLog.objects.filter(grant=grant).latest("read_at").read_at
    assert [s.reads for s in selectors.seller_sales(seller=other[1])] == [0]
