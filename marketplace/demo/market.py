"""The demo's market, which needs Stripe: a saved card, trades, settlement, reads, a revocation
and payouts."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import stripe
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from accounts.models import BuyerOrganisation, ConsentGrant, User
from accounts.taxonomy import DataCategory
from listings.models import Listing
from listings.selectors import SegmentCriteria
from marketplace import services as market
from marketplace import settlement
from marketplace.demo.data import AUDIENCE_CRITERIA, SANDBOX_KEY
from marketplace.models import AccessGrant, AccessLog, DeletionNotice, Trade, TradeLine
from payments import services as payment_services
from payments.models import Payout, StripeCustomer
from payments.postings import SellerBooks
from payments.stripe_client import client


def uses_sandbox() -> bool:
    return settings.STRIPE_API_KEY == SANDBOX_KEY


def stripe_answers() -> bool:
    try:
        client().v1.customers.list({"limit": 1})
    except stripe.StripeError:
        return False
    return True


def sandbox_post(path: str, data: dict) -> dict:
    """A control of the Connect sandbox (devtools/stripe_sandbox): here, the seller's bank."""
    request = urllib.request.Request(
        settings.STRIPE_CONNECT_API_BASE.rstrip("/") + path,
        data=urllib.parse.urlencode(data).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {settings.STRIPE_API_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw.startswith(b"{") else {}


class MarketSeeder:
    """Part of the seed_demo command: uses its stdout and stderr."""

    def market(self, organisation: BuyerOrganisation, demo_seller: User, api_key: str) -> None:

        self.ensure_card(organisation)
        if not Trade.objects.filter(organisation=organisation).exists():
            self.trade(organisation, demo_seller)
        self.settle(organisation)
        trades = list(Trade.objects.filter(organisation=organisation, status=Trade.Status.SETTLED))
        if trades and not AccessLog.objects.filter(grant__organisation=organisation).exists():
            self.read(trades, api_key)
        if trades and not DeletionNotice.objects.filter(organisation=organisation).exists():
            self.revoke(organisation, demo_seller)
        if trades and not Payout.objects.exists():
            self.payouts(demo_seller)
        open_auctions = Listing.objects.filter(
            status=Listing.Status.ACTIVE,
            pricing_mode=Listing.PricingMode.AUCTION,
            auction_ends_at__lte=timezone.now() + timedelta(minutes=30),
        ).count()
        self.stdout.write(
            f"Market: {Trade.objects.filter(status=Trade.Status.SETTLED).count()} settled trades, "
            f"{AccessLog.objects.count()} reads, {DeletionNotice.objects.count()} deletion notices, "
            f"{Payout.objects.count()} payouts; {open_auctions} auctions end within 30 minutes."
        )

    def ensure_card(self, organisation: BuyerOrganisation) -> None:
        """pm_card_visa as the buyer's default card, saved again if Stripe no longer knows the
        customer (the sandbox's state lives in the run dir; the database may outlive it)."""
        customer = StripeCustomer.objects.filter(organisation=organisation).first()
        if customer and customer.stripe_customer_id and customer.default_payment_method_id:
            try:
                client().v1.customers.retrieve(customer.stripe_customer_id)
                return
            except stripe.InvalidRequestError as exc:
                if exc.http_status != 404:
                    raise
            # Stripe lost it: forget the ids (the next call creates the customer again).
            StripeCustomer.objects.filter(pk=customer.pk).update(
                stripe_customer_id=None, default_payment_method_id="", updated_at=timezone.now()
            )
            self.stdout.write("Stripe no longer knows the demo buyer: saving its card again.")
        payment_services.payment_method_save(
            organisation_id=organisation.pk, payment_method_id="pm_card_visa"
        )
        self.stdout.write("Demo buyer: test card pm_card_visa saved as its default.")

    def trade(self, organisation: BuyerOrganisation, demo_seller: User) -> None:
        """What the buyer does through the API: buy now, sealed bids, an audience bundle."""

        active = Listing.objects.filter(status=Listing.Status.ACTIVE)
        fixed = list(active.filter(pricing_mode=Listing.PricingMode.FIXED).order_by("pk"))
        demo_fixed = [listing for listing in fixed if listing.seller_id == demo_seller.pk][:2]
        # the dearest crowd listings (their sellers reach the payout threshold), then a few more
        crowd_fixed = sorted(
            (listing for listing in fixed if listing.seller_id != demo_seller.pk),
            key=lambda listing: (-listing.floor_price_cents, listing.pk),
        )
        to_buy = list(
            {listing.pk: listing for listing in demo_fixed + crowd_fixed[:6] + crowd_fixed[-4:]}.values()
        )
        for listing in to_buy:
            market.bid_place(organisation=organisation, listing_public_id=listing.public_id)
        auctions = list(active.filter(pricing_mode=Listing.PricingMode.AUCTION).order_by("auction_ends_at"))
        bid_on = list({listing.pk: listing for listing in auctions[:3] + auctions[-2:]}.values())
        for listing in bid_on:
            market.bid_place(
                organisation=organisation,
                listing_public_id=listing.public_id,
                amount_cents=listing.floor_price_cents + 25,
            )
        bid = market.audience_bid_place(
            organisation=organisation,
            criteria=SegmentCriteria(**AUDIENCE_CRITERIA),
            max_price_cents=150,
            max_records=40,
            expires_at=timezone.now() + timedelta(days=7),
        )
        market.audience_bid_clear(bid_id=bid.pk)
        self.stdout.write(f"Trades: {len(to_buy)} bought now, {len(bid_on)} sealed bids, an audience bundle.")

    def settle(self, organisation: BuyerOrganisation) -> None:

        due = list(
            Trade.objects.filter(organisation=organisation, status__in=settlement.IN_PROGRESS).values_list(
                "pk", flat=True
            )
        )
        if due:
            settled = settlement.trades_settle(trade_ids=due)
            self.stdout.write(f"Settlement: {settled} of {len(due)} trades settled.")

    def read(self, trades, api_key: str) -> None:
        """The buyer reads its records through the API (each read logged and shown to sellers)."""
        client = Client(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        for trade in trades:
            for _ in range(1 if trade.listing_id is None else 2):
                response = client.get(f"/api/v1/trades/{trade.public_id}/records/")
                if response.status_code != 200:
                    self.stderr.write(f"reading trade {trade.public_id}: HTTP {response.status_code}")

    def revoke(self, organisation: BuyerOrganisation, demo_seller: User) -> None:
        """A seller of the audience bundle withdraws their location consent: the buyer's access
        ends and it gets a deletion notice."""

        grant = (
            AccessGrant.objects.filter(
                organisation=organisation, status=AccessGrant.Status.ACTIVE, trade_line__trade__listing=None
            )
            .exclude(seller=demo_seller)
            .order_by("pk")
            .first()
        )
        if grant is None:
            return
        consent = ConsentGrant.objects.filter(
            seller_id=grant.seller_id,
            category=DataCategory.LOCATION,
            purpose=grant.purpose,
            status=ConsentGrant.Status.ACTIVE,
        ).first()
        if consent is not None:
            account_services.consent_revoke(seller=grant.seller, grant_id=consent.pk)
            self.stdout.write("Revocation: one seller withdrew location; the buyer has a deletion notice.")

    def payouts(self, demo_seller: User) -> None:
        """Sellers who earned past the threshold set up payouts (the hosted onboarding, in the
        sandbox), then: the demo seller and one more are paid to their bank, one payout is in
        transit, one pending (the worker sends its transfer when it starts)."""

        if not uses_sandbox():
            self.stdout.write("Payouts: skipped (onboarding needs a person outside the sandbox).")
            return

        sellers = sorted(
            set(
                TradeLine.objects.filter(
                    trade__status="settled", status=TradeLine.Status.DELIVERED
                ).values_list("seller_id", flat=True)
            )
        )
        books = SellerBooks(sellers, "EUR")
        earners = [demo_seller.pk] + [
            s
            for s in sellers
            if s != demo_seller.pk and books.available[s] >= settings.PAYOUT_THRESHOLD_CENTS
        ]
        site = settings.SITE_URL.rstrip("/")
        outcomes = ["paid", "in_transit", "pending", "paid", "paid"]
        for seller_id, outcome in zip(earners, outcomes, strict=False):
            url = payment_services.connect_onboarding_link_create(
                seller_id=seller_id, refresh_url=f"{site}/payouts/", return_url=f"{site}/payouts/"
            )
            # what the seller does on Stripe's hosted page
            request = urllib.request.Request(
                url,
                data=b"outcome=complete",
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args, **kwargs):
                    return None

            try:
                urllib.request.build_opener(NoRedirect).open(request, timeout=10)
            except urllib.error.HTTPError as exc:
                if exc.code != 302:
                    raise
            account = payment_services.connect_account_ensure(seller_id=seller_id)
            payment_services.connect_account_sync(stripe_account_id=account.stripe_account_id)
            payout = payment_services.payout_create(seller_id=seller_id)
            if payout is None or outcome == "pending":
                continue
            payout = payment_services.payout_transfer(payout_id=payout.pk)
            if outcome == "paid":
                bank_payout = sandbox_post(
                    f"/_config/accounts/{account.stripe_account_id}/payouts", {"status": "paid"}
                )
                payment_services.payout_bank_outcome(
                    stripe_account_id=account.stripe_account_id, bank_payout=bank_payout
                )
        self.stdout.write(f"Payouts: {min(len(earners), len(outcomes))} sellers set up payouts.")
