"""Benchmark settlement (`make bench-settle`): trades settled by two Celery worker processes
against the local Stripe sandbox, and the latency from a winning bid's commit to an active
access grant.

Set-up (not timed): a database of its own (`courtier_bench_settle`), localstripe and the Connect
sandbox on loopback ports, sellers with profiles and valid consents, N + `--latency-trades`
active fixed-price listings (SQL), 16 verified buyer organisations with a saved card at the
sandbox. Two worker processes (`-Q settlement`, prefork, one process each, connections reused)
start after the backlog is in.

Two measurements, in this order:

1. Throughput: injector threads buy N listings through `marketplace.services.bid_place` (the
   API's service: a winning bid and its trade committed together, the settlement task queued on
   commit) while no worker runs; then the two workers start and settle the backlog, batched per
   buyer. trades_per_s = N / (last access grant − first settlement batch created, i.e. the
   first claim).
   This is settlement capacity: the injection rate of one Python process on this machine (the
   bid service, ~120-140 bids/s alone, ~80 with the workers competing for the same two cores)
   would otherwise be what is measured.
2. Latency: with the workers running, one injector buys `--latency-trades` more listings at a
   steady `--rate` per second; latency per trade = its access grant's start − its trade's
   creation (the winning bid's commit), p50 and p99.

Stripe calls: the counts of both sandboxes are reset when the workers start and read after each
measurement; every request to either sandbox in that time is a Stripe call the product made
(retries and 429s included). Printed per route, per measurement, and as
stripe_calls_per_trade = requests / trades settled, with the 429s the sandboxes answered.
`--stripe-rate-limit N` makes both sandboxes answer 429 past N requests per second (a token
bucket, as Stripe; set when the workers start, after the set-up), and a settlement sweep is
queued every 30 s as beat would, for trades a 429 left to retry. `--stripe-rate-limits off,100,25`
runs the whole benchmark once per limit (one process each) and prints a summary.

The last line of a run is always:
    trades_per_s=<float> p50_ms=<int> p99_ms=<int> stripe_calls_per_trade=<2 decimals> stripe_429s=<int>
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtier_bench_settle")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/10")
CACHE = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/9")
API_KEY = "sk_test_courtier_local"
SWEEP_EVERY_S = 30  # as CELERY_BEAT_SCHEDULE["trades-settle-due"]
GOALS = {"trades_per_s": 200, "p99_ms": 2000, "stripe_calls_per_trade": 0.5}

from bench import pg  # noqa: E402
from bench.server import free_port, wait_http  # noqa: E402


def sandbox(base: str, method: str, path: str, data: dict | None = None) -> dict:
    """A /_config/ call to one sandbox (devtools/stripe_sandbox/controls.py)."""
    import json
    import urllib.parse
    import urllib.request

    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(
        base + path, data=body, method=method, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class StripeCounts:
    """Requests both sandboxes answered (their /_config/stats), as snapshots to subtract."""

    def __init__(self, bases: dict[str, str]) -> None:
        self.bases = bases

    def reset(self) -> None:
        for base in self.bases.values():
            sandbox(base, "DELETE", "/_config/stats")

    def rate_limit(self, per_second: float) -> None:
        for base in self.bases.values():
            sandbox(base, "POST", "/_config/rate_limit", {"per_second": per_second})

    def read(self) -> dict:
        """{"total", "rate_limited", "by_route": {"<sandbox> <METHOD> <path>": n}}, both summed."""
        out: dict = {"total": 0, "rate_limited": 0, "by_route": {}}
        for name, base in self.bases.items():
            stats = sandbox(base, "GET", "/_config/stats")
            out["total"] += stats["total"]
            out["rate_limited"] += stats["rate_limited"]
            for route, count in stats["by_route"].items():
                out["by_route"][f"{name} {route}"] = count
        return out

    @staticmethod
    def minus(later: dict, earlier: dict) -> dict:
        return {
            "total": later["total"] - earlier["total"],
            "rate_limited": later["rate_limited"] - earlier["rate_limited"],
            "by_route": {
                route: count - earlier["by_route"].get(route, 0)
                for route, count in later["by_route"].items()
                if count - earlier["by_route"].get(route, 0)
            },
        }


def print_stripe_calls(phases: list[tuple[str, dict, int]]) -> None:
    """Per route, the requests of each measurement, and per trade."""
    routes = sorted({route for _, counts, _ in phases for route in counts["by_route"]})
    names = [name for name, _, _ in phases]
    width = max([len(r) for r in routes] + [len("route")])
    print("Stripe calls counted at the sandboxes (429s included):")
    print(f"  {'route':<{width}}" + "".join(f" {name:>10}" for name in names) + "  per trade (all)")
    total_trades = phases[-1][2]
    for route in sorted(routes, key=lambda r: -phases[-1][1]["by_route"].get(r, 0)):
        row = [counts["by_route"].get(route, 0) for _, counts, _ in phases]
        print(f"  {route:<{width}}" + "".join(f" {n:>10}" for n in row) + f"  {row[-1] / total_trades:.3f}")
    print(f"  {'total':<{width}}" + "".join(f" {c['total']:>10}" for _, c, _ in phases))
    print(f"  {'429s':<{width}}" + "".join(f" {c['rate_limited']:>10}" for _, c, _ in phases))
    print(f"  {'trades settled':<{width}}" + "".join(f" {t:>10}" for _, _, t in phases))
    print(
        f"  {'calls per trade':<{width}}"
        + "".join(f" {c['total'] / t if t else 0:>10.3f}" for _, c, t in phases),
        flush=True,
    )


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def load(n_listings: int, n_sellers: int) -> None:
    """Sellers with profiles and 90-day consents, and active fixed-price listings, in SQL."""
    from django.db import connection

    from accounts import crypto, taxonomy

    bits = taxonomy.pairs_mask(["demographics", "location"], ["targeted_advertising"])
    wrapped = crypto.new_wrapped_data_key()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO accounts_user (password, email, full_name, role, pseudonym, preferred_language,
                is_active, is_staff, is_superuser, date_joined)
            SELECT '!', 'seller' || g || '@bench.test', '', 'seller', gen_random_uuid(), 'en', true, false, false, now()
            FROM generate_series(1, %s) g
            """,
            [n_sellers],
        )
        cur.execute(
            "INSERT INTO accounts_sellerdatakey (seller_id, wrapped_key, created_at) "
            "SELECT id, %s, now() FROM accounts_user WHERE role = 'seller'",
            [wrapped],
        )
        cur.execute(
            """
            INSERT INTO accounts_sellerprofile (seller_id, age_band, gender, region, mobile_os, mobile_operator,
                interests_mask, affinities_mask, audience_optin_mask, sellable_mask, sellable_until, updated_at)
            SELECT id, '25-34', 'female', 'FR-IDF', 'android', 'orange', 3, 1, 0, %s, now() + interval '90 days', now()
            FROM accounts_user WHERE role = 'seller'
            """,
            [bits],
        )
        cur.execute(
            """
            INSERT INTO accounts_consentgrant (seller_id, category, purpose, window_days, granted_at, expires_at, status)
            SELECT u.id, c.category, 'targeted_advertising', 90, now() - interval '1 day', now() + interval '89 days', 'active'
            FROM accounts_user u CROSS JOIN (VALUES ('demographics'), ('location')) c(category)
            WHERE u.role = 'seller'
            """
        )
        cur.execute(
            """
            INSERT INTO listings_listing (public_id, seller_id, categories_mask, purposes_mask, licence_days,
                pricing_mode, floor_price_cents, currency, status, status_reason, created_at, updated_at)
            SELECT gen_random_uuid(), s.id, 3, 1, 30, 'fixed', 500 + (g %% 1000), 'EUR', 'active', '', now(), now()
            FROM generate_series(1, %s) g
            JOIN LATERAL (SELECT id FROM accounts_user WHERE role = 'seller' ORDER BY id
                          OFFSET (g %% %s) LIMIT 1) s ON true
            """,
            [n_listings, n_sellers],
        )
        cur.execute("ANALYZE")


def buyers(count: int) -> list:
    from accounts import services as account_services
    from accounts.models import BuyerOrganisation
    from payments import services as payment_services

    organisations = []
    for i in range(count):
        organisation = account_services.organisation_create(
            legal_name=f"Bench Buyer {i}",
            registration_number=f"B{i:08d}",
            country="FR",
            website="https://bench.example",
            contact_name="Bench",
            contact_email=f"buyer{i}@bench.example",
        )
        BuyerOrganisation.objects.filter(pk=organisation.pk).update(verification_status="verified")
        organisation.refresh_from_db()
        payment_services.payment_method_save(
            organisation_id=organisation.pk, payment_method_id="pm_card_visa"
        )
        organisations.append(organisation)
    return organisations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--sellers", type=int, default=2_000)
    parser.add_argument("--injectors", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-trades", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=50.0, help="winning bids per second in the latency run")
    parser.add_argument(
        "--stripe-rate-limit",
        type=float,
        default=0,
        metavar="N",
        help="both sandboxes answer 429 past N requests per second (0: no limit)",
    )
    parser.add_argument(
        "--stripe-rate-limits",
        metavar="LIST",
        help="run the benchmark once per limit, e.g. off,100,25 (off = 0), then print a summary",
    )
    args = parser.parse_args()
    if args.stripe_rate_limits:
        suite(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> dict:

    api_port, connect_port = free_port(), free_port()
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settle_settings",
        "DATABASE_URL": BENCH_DB,
        "CELERY_BROKER_URL": BROKER,
        "CACHE_URL": CACHE,
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": f"http://127.0.0.1:{api_port}",
        "STRIPE_CONNECT_API_BASE": f"http://127.0.0.1:{connect_port}",
        "CELERY_DB_REUSE_MAX": "1000000",
        "CONN_MAX_AGE": "600",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DJANGO_SETTINGS_MODULE",
                "DATABASE_URL",
                "CELERY_BROKER_URL",
                "CACHE_URL",
                "STRIPE_API_KEY",
                "STRIPE_API_BASE",
                "STRIPE_CONNECT_API_BASE",
            )
        }
    )
    processes: list[subprocess.Popen] = []
    try:
        processes.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "devtools.stripe_sandbox",
                    "localstripe",
                    "--port",
                    str(api_port),
                    "--connect",
                    f"http://127.0.0.1:{connect_port}",
                ],
                env,
                logs / "settle-localstripe.log",
            )
        )
        processes.append(
            start(
                [sys.executable, "-m", "devtools.stripe_sandbox", "connect", "--port", str(connect_port)],
                env,
                logs / "settle-connect.log",
            )
        )
        wait_http(f"http://127.0.0.1:{api_port}/v1/customers")
        wait_http(f"http://127.0.0.1:{connect_port}/v1/accounts")
        counts = StripeCounts(
            {"api": f"http://127.0.0.1:{api_port}", "connect": f"http://127.0.0.1:{connect_port}"}
        )

        pg.recreate_database(pg.db_config(BENCH_DB))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        t0 = time.monotonic()
        load(args.trades + args.latency_trades, args.sellers)
        organisations = buyers(16)
        print(
            f"loaded {args.sellers} sellers, {args.trades + args.latency_trades} listings, 16 buyers in {time.monotonic() - t0:.1f} s",
            flush=True,
        )

        from config.celery_app import app

        app.control.purge()

        def start_workers() -> None:
            for i in range(args.workers):
                processes.append(
                    start(
                        [
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "config",
                            "worker",
                            "-Q",
                            "settlement",
                            "--pool=prefork",
                            "--concurrency=1",
                            "--without-gossip",
                            "--without-mingle",
                            "--without-heartbeat",
                            "--loglevel=WARNING",
                            "-n",
                            f"bench-settle-{i}@%h",
                        ],
                        env,
                        logs / f"settle-worker-{i}.log",
                    )
                )
            deadline = time.monotonic() + 30
            while len(app.control.ping(timeout=0.5)) < args.workers and time.monotonic() < deadline:
                pass

        from listings.models import Listing
        from marketplace import services
        from marketplace.models import AccessGrant, Trade

        listing_ids = list(Listing.objects.order_by("pk").values_list("public_id", flat=True))
        backlog, steady = listing_ids[: args.trades], listing_ids[args.trades :]
        errors: list[BaseException] = []

        def inject(index: int, public_ids: list, rate: float | None = None) -> None:
            try:
                began = time.monotonic()
                for j, public_id in enumerate(public_ids):
                    if rate:
                        time.sleep(max(0.0, began + j / rate - time.monotonic()))
                    services.bid_place(
                        organisation=organisations[(index + j) % 16], listing_public_id=public_id
                    )
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        from marketplace.tasks import trades_settle_due

        next_sweep = [0.0]

        def settled_all(trade_filter: dict, count: int, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if Trade.objects.filter(status="settled", **trade_filter).count() == count:
                    return
                if time.monotonic() >= next_sweep[0]:  # beat's settlement sweep (after a 429, say)
                    trades_settle_due.delay()
                    next_sweep[0] = time.monotonic() + SWEEP_EVERY_S
                time.sleep(0.2)
            left = count - Trade.objects.filter(status="settled", **trade_filter).count()
            raise SystemExit(f"{left} trades still not settled after {timeout:.0f} s")

        # 1. Throughput: a backlog of N trades, then the workers.
        started = time.monotonic()
        chunks = [backlog[i :: args.injectors] for i in range(args.injectors)]
        threads = [threading.Thread(target=inject, args=(i, chunk)) for i, chunk in enumerate(chunks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        injected_s = time.monotonic() - started
        print(
            f"placed {len(backlog)} winning bids in {injected_s:.1f} s ({len(backlog) / injected_s:.0f}/s), "
            "no worker running",
            flush=True,
        )
        last_backlog_trade = Trade.objects.order_by("-pk").values_list("pk", flat=True).first()
        # The measured phase starts: Stripe calls are counted from here, under the limit asked for.
        from django.core.cache import cache

        from payments.stripe_calls import RATE_LIMITED_COUNTER, rate_limited_count

        before_workers = counts.read()
        counts.reset()
        counts.rate_limit(args.stripe_rate_limit)
        cache.delete(RATE_LIMITED_COUNTER)
        if before_workers["total"]:
            print(f"set-up made {before_workers['total']} Stripe calls (not counted)", flush=True)
        print(
            f"Stripe rate limit at both sandboxes: "
            f"{f'{args.stripe_rate_limit:g} requests/s' if args.stripe_rate_limit else 'none'}",
            flush=True,
        )
        next_sweep[0] = time.monotonic() + SWEEP_EVERY_S
        start_workers()
        settled_all({"pk__lte": last_backlog_trade}, len(backlog), 600)
        after_backlog = counts.read()
        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT extract(epoch FROM max(g.starts_at) - min(b.created_at)), count(*), count(DISTINCT t.batch_id)
                FROM marketplace_trade t
                JOIN marketplace_settlementbatch b ON b.id = t.batch_id
                JOIN marketplace_tradeline l ON l.trade_id = t.id
                JOIN marketplace_accessgrant g ON g.trade_line_id = l.id
                WHERE t.id <= %s
                """,
                [last_backlog_trade],
            )
            drain_s, settled, batches = cur.fetchone()
        assert settled == len(backlog)
        throughput = settled / drain_s
        print(
            f"settled the backlog of {settled} trades in {drain_s:.1f} s with {args.workers} workers: "
            f"{throughput:.0f} trades/s, {batches} batches (about {settled / batches:.0f} trades per Stripe payment)",
            flush=True,
        )

        # 2. Latency: a steady stream of winning bids with the workers running.
        inject(0, steady, rate=args.rate)
        if errors:
            raise errors[0]
        settled_all({"pk__gt": last_backlog_trade}, len(steady), 600 if args.stripe_rate_limit else 120)
        after_steady = counts.read()
        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM g.starts_at - t.created_at)),
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM g.starts_at - t.created_at)),
                       count(*), count(DISTINCT t.batch_id)
                FROM marketplace_trade t
                JOIN marketplace_tradeline l ON l.trade_id = t.id
                JOIN marketplace_accessgrant g ON g.trade_line_id = l.id
                WHERE t.id > %s
                """,
                [last_backlog_trade],
            )
            p50, p99, streamed, batches = cur.fetchone()
        assert streamed == len(steady)
        assert AccessGrant.objects.count() == len(listing_ids)
        from payments import ledger

        assert ledger.unbalanced_transactions() == []
        print(
            f"steady stream: {streamed} trades at {args.rate:.0f}/s in {batches} batches; "
            f"bid commit to access grant p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
        print_stripe_calls(
            [
                ("backlog", after_backlog, settled),
                ("stream", StripeCounts.minus(after_steady, after_backlog), streamed),
                ("all", after_steady, settled + streamed),
            ]
        )
        calls_per_trade = after_steady["total"] / (settled + streamed)
        print(
            f"429s the product backed off (payments.stripe_calls counter): {rate_limited_count()}",
            flush=True,
        )
        result = {
            "trades_per_s": round(throughput, 1),
            "p50_ms": round(p50 * 1000),
            "p99_ms": round(p99 * 1000),
            "stripe_calls_per_trade": round(calls_per_trade, 2),
            "stripe_429s": after_steady["rate_limited"],
        }
        print(
            f"stripe_rate_limit={args.stripe_rate_limit:g} stripe_calls={after_steady['total']} "
            f"trades={settled + streamed}"
        )
        print(" ".join(f"{key}={value}" for key, value in result.items()), flush=True)
        return result
    finally:
        for process in processes:
            with contextlib_suppress():
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            with contextlib_suppress():
                process.wait(timeout=20)


def suite(args: argparse.Namespace) -> None:
    """The benchmark once per Stripe rate limit (a process each), then the figures side by side."""
    passed = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("trades", "sellers", "injectors", "workers", "latency_trades", "rate")
    ]
    results: list[tuple[float, dict | None]] = []
    for item in args.stripe_rate_limits.split(","):
        limit = 0.0 if item.strip() in ("off", "0", "") else float(item)
        label = f"{limit:g}/s" if limit else "none"
        print(f"\n=== bench/settle.py, Stripe rate limit {label} ===", flush=True)
        process = subprocess.Popen(
            [sys.executable, __file__, *passed, f"--stripe-rate-limit={limit:g}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        last = ""
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("trades_per_s="):
                last = line.strip()
        ok = process.wait() == 0 and last
        results.append((limit, dict(kv.split("=") for kv in last.split()) if ok else None))
    print("\n=== summary ===")
    problems = []
    for limit, result in results:
        label = f"stripe_rate_limit={limit:g}" if limit else "stripe_rate_limit=off"
        note = " (Stripe test mode's limit: informative)" if 0 < limit < 100 else ""
        if result is None:
            print(f"{label} failed{note}")
            if not note:
                problems.append(f"the run at {label} failed")
            continue
        print(label + " " + " ".join(f"{k}={v}" for k, v in result.items()) + note)
        if note:
            continue
        if float(result["trades_per_s"]) < GOALS["trades_per_s"]:
            problems.append(f"{label}: trades_per_s < {GOALS['trades_per_s']}")
        if float(result["p99_ms"]) > GOALS["p99_ms"]:
            problems.append(f"{label}: p99_ms > {GOALS['p99_ms']}")
        if float(result["stripe_calls_per_trade"]) > GOALS["stripe_calls_per_trade"]:
            problems.append(f"{label}: stripe_calls_per_trade > {GOALS['stripe_calls_per_trade']}")
        if limit and int(result["stripe_429s"]):
            problems.append(f"{label}: {result['stripe_429s']} 429s")
    print(
        "goals (trades_per_s >= 200, p99_ms <= 2000, stripe_calls_per_trade <= 0.5, no 429 at 100/s): "
        + ("met" if not problems else "NOT met: " + "; ".join(problems))
    )


def contextlib_suppress():
    import contextlib

    return contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired)


if __name__ == "__main__":
    main()
