"""Settlement survives workers killed with SIGKILL at random points (issue 9, "Tests must show").

A seeded, reduced fault run: a few hundred trades of a few buyers are settled by two real Celery
worker processes (prefork, one pool child each, queues `settlement,default`) on the test
PostgreSQL database, the Redis broker and the Stripe sandboxes, while the test plays beat (the
settlement sweep, the payments resume sweep, outcome delivery) and kills workers with SIGKILL:

- a pool child: its parent forks another, the message comes back (reject_on_worker_lost);
- a whole worker, parent and child: its unacked message is lost (until the broker's visibility
  timeout), the sweeps must re-drive its trades; a new worker replaces it;
- only the parent: the orphaned child finishes what it holds, unseen by the broker; replaced;
- at the worst moment: every worker frozen (SIGSTOP) as soon as a payment is newly captured (at
  Stripe and in our row) but its sellers not yet credited, then every pool child killed — the
  case that used to lose money. The test cannot hook inside a worker: it polls the database for
  that state, and a targeted kill counts as a hit only if the state is still there after it.

The trades become due one by one over the first seconds (their `next_attempt_at` spread out, as
if bought while the workers run), so claims are small and kills land in every settlement step:
claim, authorise, deliver, capture, credit. The workers' claim lease
(SETTLEMENT_RETRY_AFTER_SECONDS) and payments resume delay are a few seconds, so killed work is
re-driven within the run.

Then the run drains: no more kills, the workers keep sweeping until every trade is final and no
Stripe step is half done. Afterwards: every trade settled, once (one `settled` event, no status
entered twice), one access grant per line, charged amounts equal to the delivered lines, one
payment per batch, every captured payment credited exactly once (one settlement posting, shares
adding up to the capture), each buyer charged at Stripe exactly what our payments captured with
no authorisation left held, a balanced ledger, and reconciliation reporting nothing, twice.

The seed (CHAOS_SEED, printed) fixes the data, the kill schedule and the kinds of kills; where a
kill lands inside a worker still depends on the machine's timing, so each kill prints the state
it hit. Select it with `pytest -m chaos` (or by path); it runs in the default `make test`.

That planting each kind of inconsistency makes reconciliation report exactly that is shown,
without workers, in tests/payments/test_reconciliation_books.py (not repeated here).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from marketplace import services as marketplace_services
from marketplace.models import AccessGrant, Bid, SettlementBatch, Trade, TradeEvent, TradeLine
from payments import ledger
from payments import services as payment_services
from payments.models import LedgerTransaction, Payment, PaymentEvent, ReconciliationIssue, SettlementShare
from payments.services import reconciliation_run
from payments.stripe_client import client
from tests.factories import VerifiedOrganisationFactory
from tests.invariants import assert_invariants
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.payments.conftest import stripe_sandbox, stripe_settings  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker, pytest.mark.chaos]

SEED = int(os.environ.get("CHAOS_SEED", "20250909"))
BUYERS = 5
SELLERS = 30  # one buy-now trade each, through the services
TRADES = 240
ARRIVAL_SECONDS = 15.0  # trades become due over this long after the workers start
KILLS = 12  # of which TARGETED wait for a payment captured but not credited
TARGETED = 3
LEASE_SECONDS = 3  # SETTLEMENT_RETRY_AFTER_SECONDS and PAYMENTS_RESUME_AFTER_SECONDS of the workers
DRAIN_DEADLINE_SECONDS = 60.0
QUEUES = "settlement,default"  # marketplace.tasks.* and payments' sweeps and outcome delivery
S = Trade.Status
FINAL = (S.SETTLED, S.VOIDED, S.PAYMENT_FAILED)


# --- Worker processes -------------------------------------------------------------------------------


class Workers:
    """Celery worker processes, each the leader of its own process group (so a whole worker,
    parent and pool child, can be killed at once, and nothing outlives the test)."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.started: list[subprocess.Popen] = []
        self.live: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        """Start a worker; it is live (a target) at once, booting or not, as after a restart."""
        name = f"chaos-{os.getpid()}-{len(self.started)}"
        log = (self.log_dir / f"{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUES, "--pool=prefork"]
            + ["--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat"]
            + ["--loglevel=INFO", "-n", f"{name}@%h"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.name = name  # type: ignore[attr-defined]
        self.started.append(process)
        self.live.append(process)
        return process

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every live worker answers ping."""
        from config.celery_app import app

        waiting = {f"{p.name}@{socket.gethostname()}": p for p in self.live}  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for name, process in waiting.items():
                assert process.poll() is None, f"worker {name} died at start (logs: {self.log_dir})"
            for reply in app.control.ping(destination=list(waiting), timeout=0.5):
                for name in reply:
                    waiting.pop(name, None)
        assert not waiting, f"workers {sorted(waiting)} did not answer ping (logs: {self.log_dir})"

    def ready(self) -> list[subprocess.Popen]:
        """The live workers that have finished booting (their log says so)."""
        return [
            p
            for p in self.live
            if p.poll() is None and " ready." in (self.log_dir / f"{p.name}.log").read_text()  # type: ignore[attr-defined]
        ]

    @staticmethod
    def child(process: subprocess.Popen) -> int | None:
        """The worker's pool child, if it has a live one (not a zombie its parent has not reaped)."""
        try:
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        except OSError:
            return None
        for pid in reversed(children):
            try:
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    return int(pid)
            except (OSError, IndexError):
                continue
        return None

    def kill_children(self) -> list[int]:
        children = [child for child in map(self.child, self.live) if child is not None]
        for child in children:
            os.kill(child, signal.SIGKILL)
        return children

    def signal_all(self, signum: int) -> None:
        for process in self.live:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:  # died at start: the loop's next kill replaces it
                pass

    def kill_group(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.live.remove(process)

    def stop(self) -> None:
        self.signal_all(signal.SIGCONT)  # in case a failure left them frozen
        for process in self.live:
            process.terminate()
        for process in self.live:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.live = []
        for process in self.started:  # whatever is left of every group, orphaned children included
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if process.poll() is None:
                process.wait(timeout=10)


@pytest.fixture
def workers(transactional_db, stripe_sandbox):  # noqa: F811
    db = connection.settings_dict
    env = {
        **os.environ,  # the sandboxes' addresses and key (stripe_sandbox puts them there)
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "TEST_DATABASE_NAME": db["NAME"],
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "CELERY_DB_REUSE_MAX": "100",
        "PYTHONUNBUFFERED": "1",
        "SETTLEMENT_RETRY_AFTER_SECONDS": str(LEASE_SECONDS),
        "PAYMENTS_RESUME_AFTER_SECONDS": str(LEASE_SECONDS),
    }
    log_dir = Path(tempfile.gettempdir()) / f"courtier-chaos-{os.getpid()}"
    log_dir.mkdir(exist_ok=True)
    pool = Workers(env, log_dir)
    try:
        yield pool
    finally:
        pool.stop()


# --- What the test observes -------------------------------------------------------------------------


def trade_counts() -> dict[str, int]:
    return dict(Trade.objects.values_list("status").annotate(n=Count("pk")))


def captured_not_credited() -> list[int]:
    return list(
        Payment.objects.filter(
            status__in=Payment.CAPTURED_STATES, amount_captured__gt=0, settled_at__isnull=True
        ).values_list("pk", flat=True)
    )


def half_done_payments() -> int:
    """Payments with a Stripe step whose answer is not recorded yet."""
    return Payment.objects.filter(
        Q(status__in=[Payment.Status.PENDING, Payment.Status.REQUIRES_ACTION])
        | Q(status=Payment.Status.AUTHORISED, capture_requested__isnull=False)
    ).count()


def state() -> str:
    payments = dict(Payment.objects.values_list("status").annotate(n=Count("pk")))
    return (
        f"trades {trade_counts()}, payments {payments}"
        f" ({len(captured_not_credited())} captured, not credited)"
    )


class Beat:
    """The beat schedule, faster: settlement sweeps, payments resume and outcome delivery."""

    def __init__(self):
        import redis

        self.redis = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
        self.last_payments = 0.0

    def tick(self) -> None:
        from marketplace.tasks import trades_settle_due
        from payments.tasks import payment_outcomes_deliver, payments_resume_pending

        if self.redis.llen("settlement") < 2:  # as beat would: no pile of sweeps behind a slow one
            trades_settle_due.delay()
        if time.monotonic() - self.last_payments > 1.0 and self.redis.llen("default") < 2:
            payments_resume_pending.delay()
            payment_outcomes_deliver.delay()
            self.last_payments = time.monotonic()

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.tick()
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def stuck_report() -> str:
    lines = []
    for trade in Trade.objects.exclude(status__in=FINAL).select_related("batch").order_by("pk")[:30]:
        payment = (
            Payment.objects.filter(reference=trade.batch.payment_reference).first() if trade.batch else None
        )
        lines.append(
            f"trade {trade.pk} {trade.status} attempts={trade.attempts} next={trade.next_attempt_at:%H:%M:%S}"
            f" batch={trade.batch_id} reason={trade.status_reason!r} payment="
            + (
                f"{payment.pk} {payment.status} captured={payment.amount_captured}"
                f" capture_requested={payment.capture_requested} keygen={payment.key_generation}"
                f" parked={payment.parked_at} error={payment.last_error!r}"
                if payment
                else "none"
            )
        )
    for event in PaymentEvent.objects.filter(delivered_at__isnull=True)[:10]:
        lines.append(
            f"undelivered outcome {event.pk} of payment {event.payment_id} {event.from_status}->"
            f"{event.to_status} attempts={event.attempts} parked={event.parked_at} error={event.last_error!r}"
        )
    return "\n".join(lines)


# --- The run ----------------------------------------------------------------------------------------


def buy(rng: random.Random) -> list:
    """TRADES trades of BUYERS buyers (verified, a Visa saved) from SELLERS sellers.

    One buy-now trade per seller goes through the services (listing, moderation, bid_place); the
    others, audience trades of one to three of those sellers each, are written in bulk as
    `audience_bid_clear` leaves them (a won bid, a pending_payment trade, its lines and its
    creation event): through the services a few hundred trades take minutes on a small machine.
    """
    buyers = []
    for _ in range(BUYERS):
        organisation = VerifiedOrganisationFactory()
        payment_services.payment_method_save(
            organisation_id=organisation.pk, payment_method_id="pm_card_visa"
        )
        buyers.append(organisation)
    for i in range(SELLERS):
        listing = active_listing(pricing_mode="fixed", floor=rng.randrange(500, 5000), seller=make_seller())
        marketplace_services.bid_place(organisation=buyers[i % BUYERS], listing_public_id=listing.public_id)
    template = Trade.objects.select_related("bid").order_by("pk").first()
    masks = dict(TradeLine.objects.values_list("seller_id", "categories_mask"))
    sellers = sorted(masks)
    now = timezone.now()
    shapes = [
        (
            buyers[rng.randrange(BUYERS)],
            rng.randrange(200, 2000),
            rng.sample(sellers, rng.choice([1, 1, 2, 3])),
        )
        for _ in range(TRADES - SELLERS)
    ]
    bids = Bid.objects.bulk_create(
        Bid(
            organisation=buyer,
            kind=Bid.Kind.AUDIENCE,
            amount_cents=price,
            purpose=template.purpose,
            licence_days=template.licence_days,
            criteria={},
            max_records=len(chosen),
            expires_at=now + timedelta(days=1),
            status=Bid.Status.WON,
            status_reason="cleared",
        )
        for buyer, price, chosen in shapes
    )
    trades = Trade.objects.bulk_create(
        Trade(
            organisation=buyer,
            bid=bid,
            purpose=template.purpose,
            licence_days=template.licence_days,
            price_per_record_cents=price,
            currency=template.currency,
            fee_bps=template.fee_bps,
        )
        for bid, (buyer, price, _chosen) in zip(bids, shapes, strict=True)
    )
    TradeLine.objects.bulk_create(
        TradeLine(trade=trade, seller_id=seller, categories_mask=masks[seller], price_cents=price)
        for trade, (_buyer, price, chosen) in zip(trades, shapes, strict=True)
        for seller in chosen
    )
    TradeEvent.objects.bulk_create(
        TradeEvent(trade=trade, from_status="", to_status=S.PENDING_PAYMENT, reason="created")
        for trade in trades
    )
    assert Trade.objects.count() == TRADES
    return buyers


def spread_arrivals(rng: random.Random, start) -> None:
    """The trades become due one by one, in a random order, over ARRIVAL_SECONDS from `start`
    (as if bought while the workers run)."""
    trades = list(Trade.objects.order_by("pk"))
    rng.shuffle(trades)
    for i, trade in enumerate(trades):
        trade.next_attempt_at = start + timedelta(seconds=i * ARRIVAL_SECONDS / TRADES)
    Trade.objects.bulk_update(trades, ["next_attempt_at"])


def kill_at_random(pool: Workers, beat: Beat, rng: random.Random) -> str:
    """SIGKILL a pool child (its parent forks another), a whole worker (replaced), or only its
    parent (the orphaned child finishes what it holds, unseen by the broker; replaced)."""
    deadline = time.monotonic() + 60
    while not pool.ready():  # a worker still booting is not worth a kill
        assert time.monotonic() < deadline, f"no worker booted within 60 s (logs: {pool.log_dir})"
        beat.run_for(0.2)
    process = rng.choice(pool.ready())
    kind = rng.choice(["child", "child", "child", "worker", "parent"])
    child = pool.child(process)
    if kind == "child" and child is not None:
        os.kill(child, signal.SIGKILL)
        return f"child {child} of worker {process.pid}"
    if kind == "parent":
        process.kill()
        process.wait(timeout=10)
        pool.live.remove(process)
        pool.start()
        return f"parent {process.pid} (child {child} orphaned)"
    pool.kill_group(process)
    pool.start()
    return f"worker {process.pid} (parent and child)"


def kill_at_capture(pool: Workers, beat: Beat, window: float) -> str:
    """Freeze every worker as soon as a payment is newly captured but not credited and, if it
    still is, SIGKILL every pool child (the process doing the work) before letting the parents
    go on; otherwise let them go on and look again, for up to `window` seconds."""
    known = set(captured_not_credited())  # left so by an earlier kill: not what we wait for
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        beat.tick()
        for _ in range(50):
            if set(captured_not_credited()) - known:
                break
            time.sleep(0.005)
        else:
            continue
        pool.signal_all(signal.SIGSTOP)
        frozen = set(captured_not_credited()) - known
        if not frozen:
            pool.signal_all(signal.SIGCONT)
            continue
        killed = pool.kill_children()
        pool.signal_all(signal.SIGCONT)
        time.sleep(0.1)  # a COMMIT already sent is the server's to finish
        left = set(captured_not_credited()) & frozen
        return f"children {killed}, payments {sorted(frozen)} captured and not credited" + (
            f" (hit: {sorted(left)} left so)" if left else " (missed: credited as it died)"
        )
    return f"children {pool.kill_children()} (no payment caught between capture and credit)"


def test_settlement_survives_workers_killed_at_random(workers, settings):
    started = time.monotonic()
    rng = random.Random(SEED)
    print(f"\nchaos seed {SEED} (CHAOS_SEED={SEED} replays the schedule)")
    settings.PAYMENTS_RESUME_AFTER_SECONDS = 0  # for the test's own resume sweep after the drain

    from config.celery_app import app

    app.control.purge()
    Beat().redis.delete("settlement", "default")
    buyers = buy(rng)
    setup = time.monotonic() - started
    print(f"{TRADES} trades of {BUYERS} buyers bought in {setup:.1f} s")
    Trade.objects.update(next_attempt_at=timezone.now() + timedelta(days=1))  # not before they arrive
    workers.start()
    workers.start()
    workers.wait_ready()
    spread_arrivals(rng, timezone.now())
    beat = Beat()

    # --- chaos: KILLS kills, TARGETED of them between a capture and its credit ---
    targeted = set(rng.sample(range(KILLS), TARGETED))
    hits = 0
    for k in range(KILLS):
        beat.run_for(rng.uniform(0.3, 2.0))
        before = state()
        if k in targeted:
            what = kill_at_capture(workers, beat, window=3.0)
            hits += "(hit" in what
        else:
            what = kill_at_random(workers, beat, rng)
        print(f"kill {k + 1:2d} at {time.monotonic() - started:5.1f} s: {what}; then {before}")
    chaos_end = time.monotonic()

    # --- drain: no more kills; the workers sweep until every trade is final ---
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if not Trade.objects.exclude(status__in=FINAL).exists() and not half_done_payments():
            break
        beat.run_for(0.5)
    drained = time.monotonic()
    workers.stop()
    # A killed worker's claim on payment outcomes lapses after PAYMENT_OUTCOME_CLAIM_SECONDS (5
    # min): let it lapse now, then what beat would still find (no resume delay here) is delivered.
    PaymentEvent.objects.filter(delivered_at__isnull=True).update(claimed_until=None)
    resumed = payment_services.payments_resume_pending()
    outcomes = payment_services.payment_outcomes_deliver()
    print(
        f"chaos {chaos_end - started - setup:.1f} s, drain {drained - chaos_end:.1f} s;"
        f" {hits} of {TARGETED} targeted kills between capture and credit; after the drain"
        f" {resumed} steps resumed and {outcomes} outcomes delivered in the test; {state()}"
    )
    assert resumed == 0, "a Stripe step was still half done after the drain"
    assert not PaymentEvent.objects.filter(delivered_at__isnull=True).exists(), stuck_report()
    assert not Payment.objects.filter(parked_at__isnull=False).exists(), stuck_report()

    # --- every trade final, settled once ---
    assert not Trade.objects.exclude(status__in=FINAL).exists(), "trades not final:\n" + stuck_report()
    # no card declines and no consent withdrawn in this run: every trade must end settled
    assert trade_counts() == {S.SETTLED: TRADES}, trade_counts()
    events = Counter(TradeEvent.objects.filter(to_status=S.SETTLED).values_list("trade_id", flat=True))
    assert set(events.values()) == {1} and len(events) == TRADES
    repeated = [
        row
        for row in TradeEvent.objects.values("trade_id", "to_status").annotate(n=Count("pk"))
        if row["n"] > 1
    ]
    assert repeated == [], f"a trade entered a status twice: {repeated[:10]}"
    assert not TradeLine.objects.exclude(status=TradeLine.Status.DELIVERED).exists()
    grants = Counter(AccessGrant.objects.values_list("trade_line_id", flat=True))
    assert len(grants) == TradeLine.objects.count() and set(grants.values()) == {1}

    # --- charged what was delivered; one payment per batch ---
    delivered = dict(
        TradeLine.objects.filter(status=TradeLine.Status.DELIVERED)
        .values_list("trade_id")
        .annotate(total=Sum("price_cents"))
    )
    wrong = [
        (pk, charged, delivered.get(pk))
        for pk, charged in Trade.objects.values_list("pk", "charged_cents")
        if charged != delivered.get(pk)
    ]
    assert wrong == [], f"charged_cents differs from the delivered lines: {wrong[:10]}"
    payments = {p.reference: p for p in Payment.objects.select_related("customer")}
    assert len(payments) == Payment.objects.count(), "two payments for one batch"
    for batch in SettlementBatch.objects.annotate(charged=Sum("trades__charged_cents")):
        payment = payments.get(batch.payment_reference)
        assert payment is not None and payment.organisation_id == batch.organisation_id, batch.pk
        assert payment.status == Payment.Status.CAPTURED, (payment.pk, payment.status)
        assert payment.amount_captured == batch.charged == payment.amount, (payment.pk, batch.pk)
    assert set(payments) == {b.payment_reference for b in SettlementBatch.objects.all()}

    # --- every captured payment credited exactly once ---
    shares = dict(SettlementShare.objects.values_list("payment_id").annotate(total=Sum("gross")).order_by())
    postings = Counter(
        LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SETTLEMENT).values_list(
            "idempotency_key", flat=True
        )
    )
    for payment in payments.values():
        assert payment.settled_at is not None, f"payment {payment.pk} captured and never credited"
        assert postings[f"payment:{payment.pk}:settlement"] == 1, payment.pk
        assert shares.get(payment.pk) == payment.amount_captured, payment.pk
    assert sum(postings.values()) == len(payments)
    assert ledger.unbalanced_transactions() == []

    # --- each buyer charged at Stripe exactly what our payments captured; nothing left held ---
    ours: dict[str, int] = defaultdict(int)
    for payment in payments.values():
        ours[payment.customer.stripe_customer_id] += payment.amount_captured
    at_stripe: dict[str, int] = defaultdict(int)
    intents_of_ours = set()
    held = []
    for customer in ours:
        for intent in (
            client().v1.payment_intents.list({"customer": customer, "limit": 100}).auto_paging_iter()
        ):
            if intent["status"] == "succeeded":
                at_stripe[customer] += int(intent["amount_received"])
                intents_of_ours.add(intent["id"])
            elif intent["status"] == "requires_capture":
                held.append(intent["id"])
    assert dict(at_stripe) == dict(ours)
    assert intents_of_ours == {p.stripe_payment_intent_id for p in payments.values()}
    assert held == [], f"authorisations left held at Stripe: {held}"
    assert len(ours) == len(buyers)

    # --- reconciliation finds nothing, and nothing the second time either ---
    first = reconciliation_run(grace=timedelta(0))
    issues = list(ReconciliationIssue.objects.values_list("kind", "detail"))
    assert first.issues == 0, issues
    second = reconciliation_run(grace=timedelta(0))
    assert second.issues == 0 and ReconciliationIssue.objects.count() == 0
    assert_invariants(with_stripe=True)  # the one check the chaos and load runs end with
    print(f"checked in {time.monotonic() - drained:.1f} s; total {time.monotonic() - started:.1f} s")
