"""Rows for every moderators' queue on the admin index, a known number in each (and rows that
must not count beside them), for the queue tests and the admin's browser test."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts import taxonomy
from accounts.models import BuyerOrganisation
from listings import services as listing_services
from listings.models import Listing
from marketplace.models import Bid, Trade
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
from tests.factories import OrganisationFactory, PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.seller_history import seller_with_sales

# queue key → rows waiting in it
EXPECTED = {
    "organisations-pending": 2,
    "listings-pending-review": 1,
    "deletion-notices-overdue": 2,  # one per buyer of seller_with_sales
    "buyers-flagged": 3,  # those two, and one whose payments keep failing
    "payouts-failed": 1,
    "disputes-open": 1,
    "stripe-events-failed": 2,
    "payments-parked": 1,
    "payouts-parked": 1,
    "reconciliation-open": 1,
}


def _failed_trades(organisation: BuyerOrganisation, listing: Listing, count: int) -> None:
    now = timezone.now()
    bids = Bid.objects.bulk_create(
        Bid(
            organisation=organisation,
            kind=Bid.Kind.BUY_NOW,
            listing=listing,
            amount_cents=150,
            purpose=taxonomy.Purpose.TARGETED_ADVERTISING,
            licence_days=30,
            status=Bid.Status.LOST,
        )
        for _ in range(count)
    )
    Trade.objects.bulk_create(
        Trade(
            organisation=organisation,
            bid=bid,
            listing=listing,
            purpose=bid.purpose,
            licence_days=30,
            price_per_record_cents=150,
            fee_bps=2_000,
            status=Trade.Status.PAYMENT_FAILED,
            created_at=now,
            updated_at=now,
        )
        for bid in bids
    )


def queue_rows() -> None:
    """The rows of EXPECTED, plus, in each table, rows no queue should count."""
    for status in ("pending", "pending", "unverified", "rejected"):
        OrganisationFactory(verification_status=status)

    listing = listing_services.listing_create(
        seller=make_seller(),
        categories=["demographics"],
        purposes=["targeted_advertising"],
        licence_days=30,
        pricing_mode="fixed",
        floor_price_cents=1250,
        auction_ends_at=None,
    )
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.PENDING_REVIEW)

    seller, buyers = seller_with_sales(4)  # each buyer: a notice sent, one acknowledged, one overdue
    failing = PayingOrganisationFactory(legal_name="Cartes Refusées SA")
    sold = Listing.objects.get(seller=seller)
    _failed_trades(failing, sold, 3)
    _failed_trades(buyers[0], sold, 1)  # flagged already (overdue notice): counted once

    account = ConnectAccount.objects.create(
        seller=seller, stripe_account_id="acct_queue", payouts_enabled=True
    )
    now = timezone.now()
    for status, parked in (("failed", None), ("in_transit", now), ("paid", None)):
        Payout.objects.create(
            seller=seller, connect_account=account, amount=4200, status=status, parked_at=parked
        )

    customer = StripeCustomer.objects.get(organisation=failing)  # a paying organisation has its card
    payment = Payment.objects.create(
        reference="queue-parked",
        organisation=failing,
        customer=customer,
        amount=5000,
        status=Payment.Status.DISPUTED,
        payment_method_id="pm_card_visa",
        parked_at=now,
        last_error="Stripe answered 503 three times",
    )
    Payment.objects.create(
        reference="queue-fine",
        organisation=failing,
        customer=customer,
        amount=700,
        payment_method_id="pm_card_visa",
    )
    Dispute.objects.create(payment=payment, stripe_dispute_id="dp_open", amount=5000, currency="EUR")
    Dispute.objects.create(
        payment=payment, stripe_dispute_id="dp_won", amount=5000, currency="EUR", status=Dispute.Status.WON
    )

    for i, status in enumerate(("failed", "failed", "succeeded")):
        StripeEvent.objects.create(
            event_id=f"evt_queue_{i}", type="charge.succeeded", payload={}, status=status, error="boom"
        )

    run = ReconciliationRun.objects.create(window_start=now - timedelta(days=1))
    ReconciliationIssue.objects.create(
        run=run,
        fingerprint="open",
        kind=ReconciliationIssue.Kind.AMOUNT_MISMATCH,
        stripe_amount=5000,
        ledger_amount=4900,
        currency="EUR",
        detail="charge ch_1 differs",
    )
    ReconciliationIssue.objects.create(
        run=run,
        fingerprint="done",
        kind=ReconciliationIssue.Kind.MISSING_AT_STRIPE,
        detail="x",
        resolved_at=now,
    )
