"""The machinery of the seeded fault runs (tests/integration/test_chaos.py, `make chaos`).

Real Celery worker processes (prefork, one pool child each) in their own process groups, the test
playing beat, trades bought in bulk by a few buyers from sellers with onboarded Connect accounts,
the Stripe sandboxes' events fed to our webhook receiver, and every kind of fault the run injects:
SIGKILL (a pool child, a whole worker, only its parent, or every child between a capture and its
credit), the broker's queues forgotten, Stripe failing (500 after the work, 429, timeouts) and the
workers' database connections terminated. Then `assert_books()`: what every run must end with.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
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
from payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentEvent,
    Payout,
    ReconciliationIssue,
    SettlementShare,
    StripeEvent,
)
from payments.services import reconciliation_run
from payments.stripe_client import client, connect_client
from tests.factories import VerifiedOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing
from tests.payments.conftest import WEBHOOK_SECRET, http

S = Trade.Status
FINAL = (S.SETTLED, S.VOIDED, S.PAYMENT_FAILED)
# marketplace.tasks.*, payments' sweeps and outcome delivery, payouts, inbound Stripe events
QUEUES = ("settlement", "default", "payouts", "webhooks")
LEASE_SECONDS = 3  # claim lease, payments resume delay and webhook requeue delay of the workers
STRIPE_TIMEOUT_SECONDS = 3  # the workers' Stripe client timeout (a `timeout` fault holds longer)
PAYOUT_THRESHOLD_CENTS = 10_00  # as stripe_settings sets it in the test process


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
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(QUEUES)]
            + ["--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle"]
            + ["--without-heartbeat", "--loglevel=INFO", "-n", f"{name}@%h"],
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
def workers(transactional_db, stripe_sandbox):
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
        "WEBHOOK_REQUEUE_AFTER_SECONDS": str(LEASE_SECONDS),
        "STRIPE_TIMEOUT_SECONDS": str(STRIPE_TIMEOUT_SECONDS),
        "PAYOUT_THRESHOLD_CENTS": str(PAYOUT_THRESHOLD_CENTS),
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


def payouts_due() -> int:
    """Payout-enabled sellers whose payable balance is past the threshold (payout_sweep's query)."""
    return (
        LedgerEntry.objects.filter(
            account__purpose=LedgerAccount.Purpose.SELLER_PAYABLE,
            account__seller__connect_account__payouts_enabled=True,
        )
        .values("account__seller_id")
        .annotate(total=Sum("amount"))
        .filter(total__lte=-PAYOUT_THRESHOLD_CENTS)
        .count()
    )


def unfinished() -> dict[str, int]:
    """What the drain waits for: everything final, nothing left to pay out or process."""
    left = {
        "trades": Trade.objects.exclude(status__in=FINAL).count(),
        "payments": half_done_payments(),
        "payouts pending": Payout.objects.filter(status=Payout.Status.PENDING).count(),
        "payouts due": payouts_due(),
        "stripe events": StripeEvent.objects.exclude(status=StripeEvent.Status.SUCCEEDED).count(),
    }
    return {what: n for what, n in left.items() if n}


def state() -> str:
    payments = dict(Payment.objects.values_list("status").annotate(n=Count("pk")))
    payouts = dict(Payout.objects.values_list("status").annotate(n=Count("pk")))
    return (
        f"trades {trade_counts()}, payments {payments}"
        f" ({len(captured_not_credited())} captured, not credited), payouts {payouts}"
    )


class EventFeed:
    """The sandboxes' events, delivered (signed) to our receiver as Stripe would: each new one
    once, oldest first. Pages newest first, back to the last one delivered."""

    def __init__(self, sandbox):
        self.bases = (sandbox.api_base, sandbox.connect_base)
        self.seen: dict[str, set[str]] = {base: set() for base in self.bases}
        self.delivered = 0  # events of the types we handle (stored by the receiver)

    def _new_events(self, base: str) -> list[dict]:
        fresh: list[dict] = []
        after = ""
        while True:
            status, body = http(
                "GET", f"{base}/v1/events?limit=100" + (f"&starting_after={after}" if after else "")
            )
            if status != 200:
                return []  # a fault or a hiccup: next tick
            for event in body["data"]:
                if event["id"] in self.seen[base]:
                    return fresh
                fresh.append(event)
            if not body.get("has_more") or not body["data"]:
                return fresh
            after = body["data"][-1]["id"]

    def feed(self) -> int:
        from devtools.stripe_sandbox.wire import sign
        from payments.webhooks import webhook_receive

        count = 0
        for base in self.bases:
            for event in reversed(self._new_events(base)):
                payload = json.dumps(event)
                _event, outcome = webhook_receive(
                    payload=payload.encode(), signature=sign(payload, WEBHOOK_SECRET)
                )
                self.seen[base].add(event["id"])
                count += 1
                self.delivered += outcome == "stored"
        return count


class Beat:
    """The beat schedule, faster: settlement sweeps, payments resume, outcome delivery, payout
    sweeps and the stale-webhook requeue; and Stripe's webhooks, fed from the sandboxes."""

    def __init__(self, feed: EventFeed | None = None):
        import redis

        self.redis = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
        self.feed = feed
        self.last_payments = self.last_payouts = self.last_webhooks = 0.0

    def tick(self) -> None:
        from marketplace.tasks import trades_settle_due
        from payments.tasks import (
            payment_outcomes_deliver,
            payments_resume_pending,
            payout_sweep,
            webhook_requeue_stale,
        )

        now = time.monotonic()
        if self.redis.llen("settlement") < 2:  # as beat would: no pile of sweeps behind a slow one
            trades_settle_due.delay()
        if now - self.last_payments > 1.0 and self.redis.llen("default") < 2:
            payments_resume_pending.delay()
            payment_outcomes_deliver.delay()
            self.last_payments = now
        if now - self.last_payouts > 2.0 and self.redis.llen("payouts") < 2:
            payout_sweep.delay()
            self.last_payouts = now
        if self.feed is not None and now - self.last_webhooks > 1.0:
            self.feed.feed()
            if self.redis.llen("webhooks") < 2:
                webhook_requeue_stale.delay()
            self.last_webhooks = now

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
    for payout in Payout.objects.exclude(status__in=[Payout.Status.IN_TRANSIT, Payout.Status.PAID])[:10]:
        lines.append(
            f"payout {payout.pk} {payout.status} seller={payout.seller_id} amount={payout.amount}"
            f" keygen={payout.key_generation} parked={payout.parked_at} error={payout.last_error!r}"
        )
    for event in StripeEvent.objects.exclude(status=StripeEvent.Status.SUCCEEDED)[:10]:
        lines.append(
            f"stripe event {event.pk} {event.type} {event.status} attempts={event.attempts}"
            f" started={event.started_at} error={event.error!r}"
        )
    return "\n".join(lines)


# --- The trades -------------------------------------------------------------------------------------


def buy(
    rng: random.Random, *, buyers_count: int, sellers_count: int, trades_count: int, sandbox=None
) -> list:
    """`trades_count` trades of `buyers_count` buyers (verified, a Visa saved) from
    `sellers_count` sellers (with `sandbox`: each with an onboarded Connect account, payouts
    enabled, as tests.payments.conftest.paid_seller makes them).

    One buy-now trade per seller goes through the services (listing, moderation, bid_place); the
    others, audience trades of one to three of those sellers each, are written in bulk as
    `audience_bid_clear` leaves them (a won bid, a pending_payment trade, its lines and its
    creation event): through the services a few hundred trades take minutes on a small machine.
    """
    buyers = []
    for _ in range(buyers_count):
        organisation = VerifiedOrganisationFactory()
        payment_services.payment_method_save(
            organisation_id=organisation.pk, payment_method_id="pm_card_visa"
        )
        buyers.append(organisation)
    for i in range(sellers_count):
        seller = make_seller()
        if sandbox is not None:
            account = payment_services.connect_account_ensure(seller_id=seller.pk)
            sandbox.complete_account(account.stripe_account_id)
            payment_services.connect_account_sync(stripe_account_id=account.stripe_account_id)
        listing = active_listing(pricing_mode="fixed", floor=rng.randrange(500, 5000), seller=seller)
        marketplace_services.bid_place(
            organisation=buyers[i % buyers_count], listing_public_id=listing.public_id
        )
    template = Trade.objects.select_related("bid").order_by("pk").first()
    masks = dict(TradeLine.objects.values_list("seller_id", "categories_mask"))
    sellers = sorted(masks)
    now = timezone.now()
    shapes = [
        (
            buyers[rng.randrange(buyers_count)],
            rng.randrange(200, 2000),
            rng.sample(sellers, rng.choice([1, 1, 2, 3])),
        )
        for _ in range(trades_count - sellers_count)
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
    assert Trade.objects.count() == trades_count
    return buyers


def spread_arrivals(rng: random.Random, start, seconds: float) -> None:
    """The trades become due one by one, in a random order, over `seconds` from `start` (as if
    bought while the workers run)."""
    trades = list(Trade.objects.order_by("pk"))
    rng.shuffle(trades)
    for i, trade in enumerate(trades):
        trade.next_attempt_at = start + timedelta(seconds=i * seconds / len(trades))
    Trade.objects.bulk_update(trades, ["next_attempt_at"])


# --- Faults -----------------------------------------------------------------------------------------


def wait_for_a_ready_worker(pool: Workers, beat: Beat) -> None:
    deadline = time.monotonic() + 60
    while not pool.ready():  # a worker still booting is not worth a kill
        assert time.monotonic() < deadline, f"no worker booted within 60 s (logs: {pool.log_dir})"
        beat.run_for(0.2)


def kill(pool: Workers, beat: Beat, rng: random.Random, kind: str) -> tuple[str, str]:
    """SIGKILL a pool child (its parent forks another; the message comes back,
    reject_on_worker_lost), a whole worker (parent and child: its unacked message is lost until
    the broker's visibility timeout; replaced), or only its parent (the orphaned child finishes
    what it holds, unseen by the broker; replaced). Returns (the kind done, what): a worker
    without a live child loses its parent instead."""
    wait_for_a_ready_worker(pool, beat)
    deadline = time.monotonic() + 5
    while kind == "kill_child" and time.monotonic() < deadline:  # a worker whose child is up
        if any(pool.child(p) is not None for p in pool.ready()):
            break
        beat.run_for(0.1)
    candidates = [p for p in pool.ready() if kind != "kill_child" or pool.child(p) is not None]
    process = rng.choice(candidates or pool.ready())
    child = pool.child(process)
    if kind == "kill_child" and child is not None:
        os.kill(child, signal.SIGKILL)
        return kind, f"child {child} of worker {process.pid}"
    if kind == "kill_parent":
        process.kill()
        process.wait(timeout=10)
        pool.live.remove(process)
        pool.start()
        return kind, f"parent {process.pid} (child {child} orphaned)"
    pool.kill_group(process)
    pool.start()
    return "kill_worker", f"worker {process.pid} (parent and child)"


def kill_at_capture(pool: Workers, beat: Beat, window: float) -> tuple[str, bool]:
    """Freeze every worker as soon as a payment is newly captured but not credited and, if it
    still is, SIGKILL every pool child (the process doing the work) before letting the parents
    go on; otherwise let them go on and look again, for up to `window` seconds. The test cannot
    hook inside a worker: it polls the database for that state, and the kill counts as a hit only
    if the state is still there after it. Returns (what, hit)."""
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
        what = f"children {killed}, payments {sorted(frozen)} captured and not credited"
        return what + (f" (hit: {sorted(left)} left so)" if left else " (missed: credited as it died)"), bool(
            left
        )
    return f"children {pool.kill_children()} (no payment caught between capture and credit)", False


def broker_forget(beat: Beat) -> str:
    """Redis forgets the queues: every message waiting in them, and the broker's record of the
    messages the workers hold (so a worker dying now loses them for good). The exchange bindings
    stay (a Redis that lost them would refuse to route any message until the workers restart)."""
    keys = [*QUEUES, "unacked", "unacked_index"]
    lost = {name: beat.redis.llen(name) for name in QUEUES}
    held = beat.redis.hlen("unacked")
    beat.redis.delete(*keys)
    return f"queues {lost} and {held} unacked messages forgotten"


# (where at Stripe, method, path regex): the steps a fault is armed on
STRIPE_STEPS = {
    "authorise": ("api", "POST", r"^/v1/payment_intents$"),
    "capture": ("api", "POST", r"^/v1/payment_intents/[^/]+/capture$"),
    "cancel": ("api", "POST", r"^/v1/payment_intents/[^/]+/cancel$"),
    "read intent": ("api", "GET", r"^/v1/payment_intents/[^/]+$"),
    "transfer": ("connect", "POST", r"^/v1/transfers$"),
    "read transfer": ("connect", "GET", r"^/v1/transfers/[^/]+$"),
}


def stripe_fault(sandbox, rng: random.Random, kind: str) -> str:
    """Arm the sandbox: the next 1-3 requests of one step answer 500 after doing the work
    (`stripe_500`), 429 without doing it (`stripe_429`), or do the work and then drop the
    connection or hold the answer past the client's timeout (`stripe_timeout`, POST only)."""
    steps = [
        name
        for name, (_where, method, _path) in STRIPE_STEPS.items()
        if kind != "stripe_timeout" or method == "POST"
    ]
    step = rng.choice(steps)
    where, method, path = STRIPE_STEPS[step]
    base = sandbox.api_base if where == "api" else sandbox.connect_base
    rule = {"method": method, "path": path, "count": str(rng.randint(1, 3))}
    if kind == "stripe_500":
        rule["mode"] = "error_after"
    elif kind == "stripe_429":
        rule["mode"] = "rate_limit"
    else:
        rule["mode"] = "timeout"
        if rng.random() < 0.5:  # at once (the sandbox would hold it 30 s first by default)
            rule.update(close="1", seconds="0")
        else:
            rule["seconds"] = str(STRIPE_TIMEOUT_SECONDS + 1)
    status, body = http("POST", f"{base}/_config/faults", rule)
    assert status == 200, body
    detail = "connection dropped" if rule.get("close") else f"held {rule.get('seconds', '')} s"
    mode = rule["mode"] + (f" ({detail})" if kind == "stripe_timeout" else "")
    return f"{mode} on the next {rule['count']} {step} requests ({method} {path})"


def stripe_faults_clear(sandbox) -> None:
    for base in (sandbox.api_base, sandbox.connect_base):
        status, _ = http("DELETE", f"{base}/_config/faults")
        assert status == 200


def db_connections_terminate(beat: Beat, seconds: float = 1.0) -> str:
    """Every other connection to the test database dropped by the server (a failover, a restart),
    again and again for `seconds` (the workers hold a connection only while a task runs): their
    queries in flight fail, their next ones reconnect."""
    terminated = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
            terminated += sum(1 for (ok,) in cursor.fetchall() if ok)
        beat.tick()
        time.sleep(0.05)
    return f"{terminated} database connections terminated over {seconds:.0f} s"


@dataclass
class Injected:
    by_kind: Counter = field(default_factory=Counter)
    targeted_hits: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


# --- What every run must end with -------------------------------------------------------------------


def assert_books(*, trades_count: int, buyers: list) -> None:
    """Every trade settled, once (one `settled` event, no status entered twice), one access grant
    per line, charged amounts equal to the delivered lines, one payment per batch, every captured
    payment credited exactly once (one settlement posting, shares adding up to the capture), each
    buyer charged at Stripe exactly what our payments captured with no authorisation left held, a
    balanced ledger, and reconciliation reporting nothing, twice."""
    assert not Trade.objects.exclude(status__in=FINAL).exists(), "trades not final:\n" + stuck_report()
    # no card declines and no consent withdrawn in this run: every trade must end settled
    assert trade_counts() == {S.SETTLED: trades_count}, trade_counts()
    events = Counter(TradeEvent.objects.filter(to_status=S.SETTLED).values_list("trade_id", flat=True))
    assert set(events.values()) == {1} and len(events) == trades_count
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


def assert_payouts(sandbox) -> None:
    """Every payout sent exactly once: each transferred payout has one transfer at Stripe, for its
    amount, to its seller's account; each seller's Connect balance is what we paid them; nothing
    past the threshold is left unpaid; no payout pending or parked."""
    assert not Payout.objects.filter(status=Payout.Status.PENDING).exists(), stuck_report()
    assert not Payout.objects.filter(parked_at__isnull=False).exists(), stuck_report()
    assert payouts_due() == 0
    paid: dict[str, int] = defaultdict(int)
    for payout in Payout.objects.select_related("connect_account"):
        assert payout.status == Payout.Status.IN_TRANSIT and payout.transfer_id, (payout.pk, payout.status)
        transfers = list(
            connect_client().v1.transfers.list({"transfer_group": payout.transfer_group, "limit": 100}).data
        )
        assert [t.id for t in transfers] == [payout.transfer_id], (payout.pk, [t.id for t in transfers])
        assert transfers[0].amount == payout.amount
        assert transfers[0].destination == payout.connect_account.stripe_account_id
        paid[payout.connect_account.stripe_account_id] += payout.amount - payout.amount_reversed
    for account, amount in paid.items():
        assert sandbox.connected_balance(account) == amount, account
