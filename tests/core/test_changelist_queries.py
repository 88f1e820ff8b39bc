"""The admin's changelists of the work queues cost the same number of queries with 10 rows as with
10,000 (issue 14): no query per row (N+1) and nothing that grows with the table.

Each changelist is rendered as a moderator with 10 rows, then again once 9,990 more rows were
bulk-created (minimal valid rows, sharing their related rows: a foreign key read per row shows as
one query per row all the same)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import BuyerOrganisation, ConsentEvent, ConsentGrant, User
from core.models import AuditEntry
from listings.models import Listing
from marketplace.models import Bid, DeletionNotice, Trade
from payments.models import (
    ConnectAccount,
    Dispute,
    Payment,
    Payout,
    ReconciliationIssue,
    ReconciliationRun,
    StripeCustomer,
    StripeEvent,
)
from tests.factories import OrganisationFactory, SellerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.changelist_scale]

FEW, MANY = 10, 10_000


@dataclass
class World:
    """The related rows every bulk-created row points at."""

    seller: User
    organisation: BuyerOrganisation
    payment: Payment
    connect_account: ConnectAccount
    run: ReconciliationRun
    grant: ConsentGrant
    listing: Listing
    exempt_receipts: set[str]


@pytest.fixture
def world(db, consent_receipts_conform) -> World:
    seller = SellerFactory()
    organisation = OrganisationFactory()
    customer = StripeCustomer.objects.create(organisation=organisation, stripe_customer_id="cus_scale")
    payment = Payment.objects.create(
        reference="scale:0", organisation=organisation, customer=customer, amount=100, payment_method_id="pm"
    )
    now = timezone.now()
    grant = ConsentGrant.objects.create(
        seller=seller,
        category="demographics",
        purpose="targeted_advertising",
        window_days=30,
        granted_at=now - timedelta(days=40),
        expires_at=now - timedelta(days=10),
        ended_at=now - timedelta(days=10),
        status=ConsentGrant.Status.EXPIRED,
    )
    return World(
        seller=seller,
        organisation=organisation,
        payment=payment,
        connect_account=ConnectAccount.objects.create(seller=seller, stripe_account_id="acct_scale"),
        run=ReconciliationRun.objects.create(window_start=now),
        grant=grant,
        listing=Listing.objects.bulk_create([_listing(seller, 0)])[0],
        exempt_receipts=consent_receipts_conform,
    )


def _listing(seller: User, i: int) -> Listing:
    return Listing(
        seller=seller,
        categories_mask=1,
        purposes_mask=1,
        licence_days=30,
        pricing_mode=Listing.PricingMode.FIXED,
        floor_price_cents=100 + i % 1000,
        status=Listing.Status.PENDING_REVIEW,
    )


def _organisations(w: World, start: int, stop: int) -> None:
    BuyerOrganisation.objects.bulk_create(
        BuyerOrganisation(
            legal_name=f"Scale {i} SAS",
            registration_number=f"S{i:09d}",
            country="FR",
            website="https://scale.example",
            contact_name="Claire Martin",
            contact_email=f"contact{i}@scale.example",
            verification_status=BuyerOrganisation.Verification.PENDING,
        )
        for i in range(start, stop)
    )


def _listings(w: World, start: int, stop: int) -> None:
    Listing.objects.bulk_create(_listing(w.seller, i) for i in range(start, stop))


def _deletion_notices(w: World, start: int, stop: int) -> None:
    deadline = timezone.now() + timedelta(days=7)
    DeletionNotice.objects.bulk_create(
        DeletionNotice(
            organisation=w.organisation,
            seller=w.seller,
            categories_mask=1,
            reason="revoked",
            deadline=deadline,
        )
        for _ in range(start, stop)
    )


def _payouts(w: World, start: int, stop: int) -> None:
    Payout.objects.bulk_create(
        Payout(
            seller=w.seller,
            connect_account=w.connect_account,
            amount=1000 + i,
            status=Payout.Status.FAILED,
            failure_message="bank account closed",
        )
        for i in range(start, stop)
    )


def _payments(w: World, start: int, stop: int) -> None:
    Payment.objects.bulk_create(
        Payment(
            reference=f"scale:{i + 1}",
            organisation=w.organisation,
            customer=w.payment.customer,
            amount=100 + i,
            payment_method_id="pm",
        )
        for i in range(start, stop)
    )


def _disputes(w: World, start: int, stop: int) -> None:
    Dispute.objects.bulk_create(
        Dispute(payment=w.payment, stripe_dispute_id=f"dp_{i}", amount=100, currency="EUR")
        for i in range(start, stop)
    )


def _stripe_events(w: World, start: int, stop: int) -> None:
    StripeEvent.objects.bulk_create(
        StripeEvent(
            event_id=f"evt_{i}",
            type="payment_intent.succeeded",
            payload={"id": f"evt_{i}"},
            status=StripeEvent.Status.FAILED,
            error="boom",
        )
        for i in range(start, stop)
    )


def _reconciliation_issues(w: World, start: int, stop: int) -> None:
    ReconciliationIssue.objects.bulk_create(
        ReconciliationIssue(
            run=w.run,
            fingerprint=f"scale:{i}",
            kind=ReconciliationIssue.Kind.AMOUNT_MISMATCH,
            stripe_object_id=f"ch_{i}",
            stripe_amount=100,
            ledger_amount=90,
            currency="EUR",
            detail="amounts differ",
        )
        for i in range(start, stop)
    )


def _consent_grants(w: World, start: int, stop: int) -> None:
    ConsentGrant.objects.bulk_create(
        ConsentGrant(
            seller=w.seller,
            category=w.grant.category,
            purpose=w.grant.purpose,
            window_days=30,
            granted_at=w.grant.granted_at,
            expires_at=w.grant.expires_at,
            ended_at=w.grant.ended_at,
            status=ConsentGrant.Status.EXPIRED,
        )
        for _ in range(start, stop)
    )


def _consent_events(w: World, start: int, stop: int) -> None:
    events = [
        ConsentEvent(
            grant=w.grant,
            seller=w.seller,
            kind=ConsentEvent.Kind.EXPIRED,
            occurred_at=w.grant.expires_at,
            receipt_id=uuid.uuid4(),
            receipt={},  # not a receipt: the page only lists events
        )
        for _ in range(start, stop)
    ]
    w.exempt_receipts.update(str(event.receipt_id) for event in events)
    ConsentEvent.objects.bulk_create(events)


def _trades(w: World, start: int, stop: int) -> None:
    bids = Bid.objects.bulk_create(
        Bid(
            organisation=w.organisation,
            kind=Bid.Kind.BUY_NOW,
            listing=w.listing,
            amount_cents=100,
            purpose="targeted_advertising",
            licence_days=30,
            status=Bid.Status.WON,
        )
        for _ in range(start, stop)
    )
    Trade.objects.bulk_create(
        Trade(
            organisation=w.organisation,
            bid=bid,
            listing=w.listing,
            purpose="targeted_advertising",
            licence_days=30,
            price_per_record_cents=100,
            fee_bps=1500,
            status=Trade.Status.SETTLED,
        )
        for bid in bids
    )


def _audit_entries(w: World, start: int, stop: int) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(
            actor=w.seller,
            actor_role="seller",
            action="listing.created",
            target_type="listings.listing",
            target_id=str(i),
            target_repr=f"listing {i}",
            changes={"status": ["", "draft"]},
        )
        for i in range(start, stop)
    )


def _users(w: World, start: int, stop: int) -> None:
    User.objects.bulk_create(
        User(
            email=f"scale{i}@example.test",
            role=User.Role.BUYER if i % 2 else User.Role.SELLER,
            organisation=w.organisation if i % 2 else None,
            password="!",
        )
        for i in range(start, stop)
    )


# model: (the changelist, a filter its queue uses, the rows' builder)
QUEUES: dict[str, tuple[str, str, Callable[[World, int, int], None]]] = {
    "BuyerOrganisation": ("accounts_buyerorganisation", "verification_status__exact=pending", _organisations),
    "Listing": ("listings_listing", "status__exact=pending_review", _listings),
    "DeletionNotice": ("marketplace_deletionnotice", "status__exact=sent", _deletion_notices),
    "Payout": ("payments_payout", "status__exact=failed", _payouts),
    "Payment": ("payments_payment", "status__exact=pending", _payments),
    "Dispute": ("payments_dispute", "status__exact=open", _disputes),
    "StripeEvent": ("payments_stripeevent", "status__exact=failed", _stripe_events),
    "ReconciliationIssue": ("payments_reconciliationissue", "resolved_at__isempty=1", _reconciliation_issues),
    "ConsentGrant": ("accounts_consentgrant", "status__exact=expired", _consent_grants),
    "ConsentEvent": ("accounts_consentevent", "kind__exact=expired", _consent_events),
    "Trade": ("marketplace_trade", "status__exact=settled", _trades),
    "AuditEntry": ("core_auditentry", "actor_role=seller", _audit_entries),
    "User": ("accounts_user", "role__exact=buyer", _users),
}


# tables that grow without bound: their admin sets show_full_result_count = False
LARGE = {"AuditEntry", "ConsentEvent", "ConsentGrant", "StripeEvent", "Trade", "Payment"}


def _render(client: Any, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)  # an unknown filter redirects (302)
    assert b"<tbody>" in page.content or b"result_list" in page.content, url
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("model", list(QUEUES))
def test_a_queue_changelist_costs_the_same_queries_with_10_or_10000_rows(model, world, moderator_client):
    name, queue_filter, build = QUEUES[model]
    try:
        url = reverse(f"admin:{name}_changelist")
    except NoReverseMatch:
        pytest.skip(f"{model} has no changelist in the admin yet")
    build(world, 0, FEW)
    few = [_render(moderator_client, url), _render(moderator_client, f"{url}?{queue_filter}")]

    build(world, FEW, MANY)
    many = [_render(moderator_client, url), _render(moderator_client, f"{url}?{queue_filter}")]

    for page, few_queries, many_queries in zip(("all", queue_filter), few, many, strict=True):
        assert len(many_queries) == len(few_queries), (page, "\n".join(many_queries))
    if model in LARGE:  # a filtered page counts what it shows, not the whole table as well
        table = f'"{name}"'
        whole = [q for q in many[1] if q.startswith("SELECT COUNT(") and table in q and " WHERE " not in q]
        assert not whole, whole
