"""A model of the whole market (issue 15): a Hypothesis state machine drives the real services
(accounts, listings, marketplace, payments) on PostgreSQL and the Stripe sandboxes (localstripe
and the Connect sandbox) through any order of what happens in a market, and checks the market's
invariants (marketplace.invariants) after every step, and with Stripe reconciled at the end.

The steps: a seller lists data (moderation approves), a buyer bids on an auction or buys at a
fixed price, raises a bid, an auction closes, a seller revokes a consent, a consent expires (its
window ends now; the expiry sweep runs), a seller is erased, renews a consent or consents again,
settlement drives a trade as a worker would, Stripe's webhooks are delivered (again: a
redelivery changes nothing), a buyer is refunded, a buyer disputes a charge (and the dispute
closes, won or lost), sellers are paid out.
A refused operation (a ServiceError) is a valid outcome: the invariants must hold after it too.

Each example starts from an empty market (every table emptied, both sandboxes reset) with two
onboarded sellers, an auction, a fixed-price listing and three buyers (one whose card declines).
Profiles (MARKET_MODEL_PROFILE): `ci` (default; seed 2026, 20 examples of up to 25 steps, no
shrinking unless MARKET_MODEL_SHRINK=1) and `long` (a new random seed each time, 200 examples of
up to 60 steps, shrinking a failure to its shortest steps; MARKET_MODEL_EXAMPLES and
MARKET_MODEL_STEPS change its size, MARKET_MODEL_SEED replays a run). With -s the run prints its
seed and how often each step was taken:

    MARKET_MODEL_PROFILE=long make test PYTEST_ARGS="tests/integration/test_market_model.py -s"
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    invariant,
    precondition,
    rule,
)

from accounts import services as account_services
from accounts.models import ConsentGrant, User
from core.errors import ServiceError
from listings import services as listing_services
from listings.models import Listing
from marketplace import services, settlement, tasks
from marketplace.models import Bid, Trade
from payments import services as payment_services
from payments.models import Dispute, Payment, Refund, SettlementShare
from tests.factories import ModeratorFactory, VerifiedOrganisationFactory
from tests.invariants import assert_invariants
from tests.listings.conftest import make_seller
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    eager_celery,
    signed_headers,
    stripe_sandbox,
    stripe_settings,
)

pytestmark = pytest.mark.django_db(transaction=True)

PURPOSE = "targeted_advertising"
CATEGORIES = ("demographics", "location", "device")
DECLINED_CARD = "4000000000000341"  # attaches, then declines every charge
# Tables a truncation keeps: what migrations and post_migrate create (the staff roles), which
# nothing in the market changes.
KEPT_TABLES = {
    "django_migrations",
    "django_content_type",
    "auth_permission",
    "auth_group",
    "auth_group_permissions",
}

PROFILES = {
    "ci": settings(
        max_examples=20,
        stateful_step_count=25,
        deadline=None,
        database=None,
        # CI reports the failing run as found (a minute at most); shrinking it may take longer
        phases=[Phase.explicit, Phase.generate]
        + ([Phase.shrink] if os.environ.get("MARKET_MODEL_SHRINK") else []),
        suppress_health_check=list(HealthCheck),
    ),
    "long": settings(
        max_examples=int(os.environ.get("MARKET_MODEL_EXAMPLES", "200")),
        stateful_step_count=int(os.environ.get("MARKET_MODEL_STEPS", "60")),
        deadline=None,
        database=None,  # a failure is printed as its steps; nothing is written to the work tree
        suppress_health_check=list(HealthCheck),
    ),
}
PROFILE = os.environ.get("MARKET_MODEL_PROFILE", "ci")
# CI's run is fixed by its seed; the long profile draws a new one unless MARKET_MODEL_SEED is set
SEED = int(
    os.environ.get("MARKET_MODEL_SEED")
    or (2026 if PROFILE == "ci" else random.SystemRandom().randrange(2**32))
)

picks = st.integers(min_value=0, max_value=10**6)


def pick(rows: list, index: int):
    return rows[index % len(rows)] if rows else None


def empty_market() -> None:
    """Every table with rows emptied, but the roles and Django's own. DELETE with triggers off
    (session_replication_role: the append-only and foreign-key triggers do not fire) is several
    times faster than TRUNCATE on small tables; without the right to do so, TRUNCATE."""
    tables = [
        t for t in connection.introspection.django_table_names(only_existing=True) if t not in KEPT_TABLES
    ]
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(t)})" for t in tables), tables
        )
        filled = [row[0] for row in cursor.fetchall()]
        if not filled:
            return
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:  # not a superuser
            for sql in connection.ops.sql_flush(no_style(), filled, allow_cascade=True):
                cursor.execute(sql)
            return
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("; ".join(f"DELETE FROM {quote(t)}" for t in filled))


def card_buyer(payment_method: str = "pm_card_visa"):
    from payments.stripe_client import client

    organisation = VerifiedOrganisationFactory()
    if payment_method != "pm_card_visa":
        payment_method = (
            client()
            .v1.payment_methods.create(
                {
                    "type": "card",
                    "card": {"number": payment_method, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
                }
            )
            .id
        )
    payment_services.payment_method_save(organisation_id=organisation.pk, payment_method_id=payment_method)
    return organisation


class MarketModel(RuleBasedStateMachine):
    sandbox = None  # the Stripe sandboxes (the session's fixture), set by the test
    seen: Counter[str] = Counter()  # every step taken, over the run's examples (printed at the end)

    def __init__(self) -> None:
        super().__init__()
        empty_market()
        self.sandbox.reset()
        self.web = Client()
        self.moderator = ModeratorFactory()
        # two buyers who pay, one whose card is declined
        self.buyers = [card_buyer(), card_buyer(), card_buyer(DECLINED_CARD)]
        self.sellers: list[User] = []
        self.delivered: set[str] = set()
        self.steps: list[str] = []
        self.paid_out_after = (0, 0, 0)
        # a market to start from: two sellers, an auction and a fixed-price listing
        first, second = self._onboarded_seller(), self._onboarded_seller()
        self._list(first, ["demographics", "location"], auction=True, floor=20_00)
        self._list(second, ["device", "location"], auction=False, floor=30_00)

    # --- helpers ----------------------------------------------------------------------------------

    def _attempt(self, name: str, operation) -> None:
        try:
            operation()
            self._took(name)
        except ServiceError as exc:  # refused: a valid outcome that must change nothing
            self._took(f"{name} refused ({exc.code})")

    def _took(self, step: str) -> None:
        self.steps.append(step)
        self.seen[step] += 1

    def _onboarded_seller(self) -> User:
        seller = make_seller(categories=CATEGORIES)
        account = payment_services.connect_account_ensure(seller_id=seller.pk)
        self.sandbox.complete_account(account.stripe_account_id)
        payment_services.connect_account_sync(stripe_account_id=account.stripe_account_id)
        self.sellers.append(seller)
        return seller

    def _list(self, seller: User, categories: list[str], *, auction: bool, floor: int) -> None:
        listing = listing_services.listing_create(
            seller=seller,
            categories=categories,
            purposes=[PURPOSE],
            licence_days=30,
            pricing_mode="auction" if auction else "fixed",
            floor_price_cents=floor,
            auction_ends_at=timezone.now() + timedelta(hours=2) if auction else None,
        )
        if listing.status == Listing.Status.PENDING_REVIEW:
            listing_services.listing_moderate(listing_id=listing.pk, moderator=self.moderator, approve=True)

    def _live_sellers(self) -> list[User]:
        return list(
            User.objects.filter(pk__in=[s.pk for s in self.sellers], erased_at__isnull=True).order_by("pk")
        )

    def _deliver(self, event: dict) -> None:
        payload = json.dumps(event)
        response = self.web.post("/webhooks/stripe/", payload, **signed_headers(payload))
        assert response.status_code == 200, (response.status_code, response.content[:300])
        self.delivered.add(event["id"])

    def _all_events(self) -> list[dict]:
        return self.sandbox.localstripe_events() + self.sandbox.connect_events()

    def _captured_payments(self) -> list[Payment]:
        return list(
            Payment.objects.filter(
                status__in=[Payment.Status.CAPTURED, Payment.Status.PARTIALLY_REFUNDED], amount_captured__gt=0
            ).order_by("pk")
        )

    # --- rules --------------------------------------------------------------------------------------

    @rule(
        new_seller=st.integers(min_value=0, max_value=3).map(lambda n: n == 3),
        seller=picks,
        categories=st.sets(st.sampled_from(CATEGORIES), min_size=1),
        auction=st.booleans(),
        floor=st.integers(min_value=5, max_value=200).map(lambda euros: euros * 100),
    )
    def list_data(self, new_seller, seller, categories, auction, floor):
        """A seller lists data (the drawn categories they consent to; all drawn when they consent
        to none of them, which is refused); moderation approves."""
        live = self._live_sellers()
        chosen = self._onboarded_seller() if new_seller or not live else pick(live, seller)
        consented = set(self._active_consents().filter(seller=chosen).values_list("category", flat=True))
        listed = sorted(categories & consented or categories)
        self._attempt("list", lambda: self._list(chosen, listed, auction=auction, floor=floor))

    def _missing_consents(self) -> list[tuple[User, str]]:
        held = set(self._active_consents().values_list("seller_id", "category"))
        return [(s, c) for s in self._live_sellers() for c in CATEGORIES if (s.pk, c) not in held]

    @precondition(lambda self: bool(self._missing_consents()))
    @rule(which=picks)
    def grant_consent(self, which):
        """A seller consents again to a category they no longer consent to."""
        seller, category = pick(self._missing_consents(), which)
        self._attempt(
            "grant consent",
            lambda: account_services.consent_grant(
                seller=seller, category=category, purpose=PURPOSE, window_days=90
            ),
        )

    @precondition(lambda self: Listing.objects.filter(status=Listing.Status.ACTIVE).exists())
    @rule(listing=picks, buyer=picks, above=st.integers(min_value=-100, max_value=5_000))
    def bid(self, listing, buyer, above):
        """A sealed bid on an auction (maybe under its floor), or buy now at a fixed price, by a
        buyer without an open bid on that listing."""
        listings = list(Listing.objects.filter(status=Listing.Status.ACTIVE).order_by("pk"))
        bidding = set(Bid.objects.filter(status=Bid.Status.OPEN).values_list("organisation_id", "listing_id"))
        pairs = [(o, x) for x in listings for o in self.buyers if (o.pk, x.pk) not in bidding]
        if not pairs:
            return
        organisation, chosen = pick(pairs, listing + buyer)
        amount = (
            chosen.floor_price_cents + above if chosen.pricing_mode == Listing.PricingMode.AUCTION else None
        )
        self._attempt(
            "bid" if amount else "buy now",
            lambda: services.bid_place(
                organisation=organisation, listing_public_id=chosen.public_id, amount_cents=amount
            ),
        )

    @precondition(lambda self: Bid.objects.filter(status=Bid.Status.OPEN, kind=Bid.Kind.AUCTION).exists())
    @rule(bid=picks, by=st.integers(min_value=1, max_value=5_000))
    def raise_bid(self, bid, by):
        chosen = pick(
            list(Bid.objects.filter(status=Bid.Status.OPEN, kind=Bid.Kind.AUCTION).order_by("pk")), bid
        )
        if chosen is None:
            return
        self._attempt(
            "raise",
            lambda: services.bid_raise(
                organisation=chosen.organisation,
                bid_public_id=chosen.public_id,
                amount_cents=chosen.amount_cents + by,
            ),
        )

    @precondition(
        lambda self: Listing.objects.filter(
            status=Listing.Status.ACTIVE, pricing_mode=Listing.PricingMode.AUCTION
        ).exists()
    )
    @rule(listing=picks)
    def close_auction(self, listing):
        """An auction's end comes (moved to now; one with bids, when there is one); the closing
        sweep runs."""
        auctions = Listing.objects.filter(
            status=Listing.Status.ACTIVE, pricing_mode=Listing.PricingMode.AUCTION
        ).order_by("pk")
        with_bids = auctions.filter(bids__status=Bid.Status.OPEN).distinct()
        chosen = pick(list(with_bids) or list(auctions), listing)
        Listing.objects.filter(pk=chosen.pk).update(auction_ends_at=timezone.now())
        services.auctions_close_due()
        self._took("close auction")

    def _active_consents(self):
        return ConsentGrant.objects.filter(
            status=ConsentGrant.Status.ACTIVE, seller__erased_at__isnull=True
        ).order_by("pk")

    def _active_consent(self, index: int) -> ConsentGrant | None:
        return pick(list(self._active_consents()), index)

    @precondition(lambda self: self._active_consents().exists())
    @rule(how=st.sampled_from(["revoke", "expire", "erase", "renew"]), consent=picks)
    def consent_changes(self, how, consent):
        """A seller revokes a consent; or its window ends now and the expiry sweep runs (as beat
        does); or the seller is erased (every consent ends); or the seller renews it."""
        chosen = self._active_consent(consent)
        if how == "renew":
            self._attempt(
                "renew consent",
                lambda: account_services.consent_renew(
                    seller=chosen.seller, grant_id=chosen.pk, window_days=90
                ),
            )
        elif how == "revoke":
            self._attempt(
                "revoke", lambda: account_services.consent_revoke(seller=chosen.seller, grant_id=chosen.pk)
            )
        elif how == "expire":
            ConsentGrant.objects.filter(pk=chosen.pk).update(expires_at=timezone.now())
            assert account_services.consent_expire_due() == 1
            self._took("expire")
        else:
            self._attempt("erase", lambda: account_services.seller_erase(seller=chosen.seller))

    @precondition(lambda self: Trade.objects.filter(status__in=settlement.IN_PROGRESS).exists())
    @rule(trade=picks, all_due=st.booleans())
    def settle(self, trade, all_due):
        """A worker drives one trade (its batch) as far as it goes, or sweeps every due trade."""
        if all_due:
            settlement.trades_settle_due(seconds=0)
            self._took("settle due")
            return
        chosen = pick(list(Trade.objects.filter(status__in=settlement.IN_PROGRESS).order_by("pk")), trade)
        if chosen is None:
            return
        settlement.trades_settle(trade_ids=[chosen.pk])
        self._took("settle")

    @rule(event=picks, again=st.booleans())
    def stripe_webhook(self, event, again):
        """Stripe delivers the events it has not delivered yet, in order, and maybe one again."""
        events = sorted(self._all_events(), key=lambda e: (e["created"], e["id"]))
        for fresh in [e for e in events if e["id"] not in self.delivered]:
            self._deliver(fresh)
            self._took(f"webhook {fresh['type']}")
        if again and events:
            chosen = pick(events, event)
            self._deliver(chosen)
            self._took(f"webhook {chosen['type']} again")

    @precondition(lambda self: bool(self._captured_payments()))
    @rule(payment=picks, part=st.integers(min_value=0, max_value=100))
    def refund(self, payment, part):
        """A refund of a part (0: all that is left) of a captured payment."""
        chosen = pick(self._captured_payments(), payment)
        if chosen is None:
            return
        left = chosen.amount_captured - chosen.amount_refunded
        amount = None if part == 0 else max(1, left * part // 100)
        self._attempt("refund", lambda: payment_services.payment_refund(payment_id=chosen.pk, amount=amount))

    @precondition(lambda self: bool(self._captured_payments()))
    @rule(payment=picks, part=st.integers(min_value=1, max_value=100))
    def dispute(self, payment, part):
        """The buyer's bank opens a chargeback; Stripe tells us."""
        chosen = pick([p for p in self._captured_payments() if not p.disputes.exists()], payment)
        if chosen is None:
            return
        created = self.sandbox.dispute(
            charge=chosen.stripe_charge_id,
            payment_intent=chosen.stripe_payment_intent_id,
            amount=max(1, chosen.amount_captured * part // 100),
        )
        for event in self.sandbox.connect_events("charge.dispute.created"):
            if event["data"]["object"]["id"] == created["id"]:
                self._deliver(event)
        self._took("dispute")

    @precondition(lambda self: Dispute.objects.filter(status="open").exists())
    @rule(dispute=picks, won=st.booleans())
    def close_dispute(self, dispute, won):
        chosen = pick(list(Dispute.objects.filter(status="open").order_by("pk")), dispute)
        if chosen is None:
            return
        self.sandbox.close_dispute(chosen.stripe_dispute_id, "won" if won else "lost")
        for event in self.sandbox.connect_events("charge.dispute.closed"):
            if event["data"]["object"]["id"] == chosen.stripe_dispute_id:
                self._deliver(event)
        self._took(f"dispute {'won' if won else 'lost'}")

    def _money_moves(self) -> tuple[int, int, int]:
        """What changes what sellers are owed: credits, refunds and disputes."""
        return SettlementShare.objects.count(), Refund.objects.count(), Dispute.objects.count()

    @precondition(lambda self: self._money_moves() != self.paid_out_after)
    @rule()
    def pay_out(self):
        """The payout sweep, once sellers' balances moved: every seller above the threshold is
        paid, and what sellers owe is recovered."""
        self.paid_out_after = self._money_moves()
        payment_services.payout_sweep()
        payment_services.payout_recover_receivables()
        self._took("pay out")

    # --- after every step ----------------------------------------------------------------------

    @invariant()
    def market_is_sound(self):
        assert_invariants(with_stripe=False)

    def teardown(self):
        """The queues drain: every trade is driven to its end, every event delivered; then the
        books reconcile with Stripe."""
        for _ in range(3):
            settlement.trades_settle_due(seconds=0)
        for event in self._all_events():
            if event["id"] not in self.delivered:
                self._deliver(event)
        assert not Trade.objects.filter(status__in=settlement.IN_PROGRESS).exists(), self.steps
        assert_invariants(with_stripe=True)


def test_the_market_keeps_its_invariants_whatever_happens(request, settings, monkeypatch):
    settings.SETTLEMENT_RETRY_AFTER_SECONDS = 0  # a trade left half-driven is due again at once
    settings.PAYOUT_THRESHOLD_CENTS = 10_00
    # settlement runs when the model says so, not at commit (the other tasks run eagerly)
    for name in ("trades_settle", "audience_bid_clear"):
        monkeypatch.setattr(getattr(tasks, name), "delay_on_commit", lambda *args: None)
    MarketModel.sandbox = request.getfixturevalue("stripe_sandbox")
    MarketModel.seen.clear()
    print(f"market model ({PROFILE}): MARKET_MODEL_SEED={SEED}")
    seed(SEED)(get_state_machine_test(MarketModel, settings=PROFILES[PROFILE]))()
    final = Counter(Trade.objects.values_list("status", flat=True))  # the last example's trades
    print(
        f"market model ({PROFILE}, seed {SEED}): {dict(sorted(MarketModel.seen.items()))}; last trades {dict(final)}"
    )
