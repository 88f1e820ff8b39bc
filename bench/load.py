"""A bounded load test of the whole stack (`make load`): sellers browsing and changing consent on
the web, advertisers sizing segments, bidding, buying and reading data over the API, while a
real Celery worker and beat settle, then the market's invariant check.

Started, on loopback, and stopped at the end: the two Stripe sandboxes (localstripe and the
Connect sandbox, which sends its webhooks to the site), gunicorn (sync workers, bench/
load_settings.py: DEBUG off, production's password hasher and rate limits), one Celery worker on
every queue and Celery beat, then locust headless on bench/locustfile.py.

Data: its own PostgreSQL database (LOAD_DATABASE_URL, default courtier_load; its name must
contain "load": it is dropped and created afresh) and Redis DB 13 (LOAD_REDIS_URL; flushed).
Set up through SQL and the services: sellers with a profile, consent to demographics and location
for targeted advertising and one active listing each (auction, or fixed price for the listings
bought now), the web sellers' password, and per run 64 verified organisations with a card saved
at the Stripe sandbox and an API key (every scope).

Runs: LOAD_STEPS=10,20,40 first runs locust at each user count for LOAD_STEP_SECONDS (default 60)
and prints each step's figures and the highest rate whose worst p99 stays <= 250 ms with no
error; then the measured run: LOAD_USERS users (default 10) for LOAD_SECONDS (default 300).
Then it waits for the queues to settle what was bought and runs
`manage.py check_invariants --with-stripe`.

Per operation: requests, throughput, p50 and p99 (locust's), failures. The last line is always:
    ops_per_s=<1 decimal> worst_p99_ms=<int> error_rate=<4 decimals> invariant_violations=<int>
Goal: error_rate=0, invariant_violations=0, worst_p99_ms <= 250.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.server import free_port, start_gunicorn, stop, wait_http  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/courtier_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
STRIPE_KEY = "sk_test_courtier_local"
WEBHOOK_SECRET = "whsec_courtier_load"
PASSWORD = "load-test-password-7"
SLOTS = 64  # organisations (and web sellers) per run: at most this many advertisers at once
P99_GOAL_MS = 250
LOGIN_OPS = frozenset({"login", "login page"})
QUEUES = "default,consent,settlement,payouts,webhooks"
LOCUST = str(Path(sys.executable).with_name("locust"))


def db_url() -> str:
    url = os.environ.get("LOAD_DATABASE_URL", DEFAULT_DB)
    if "load" not in url.rsplit("/", 1)[-1]:
        raise SystemExit(f"refusing to drop and recreate {url!r}: its database name must contain 'load'")
    return url


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


# ---------------------------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------------------------

SEED_SQL = """
INSERT INTO accounts_user (password, email, full_name, role, pseudonym, preferred_language,
    email_verified_at, phone_verified_at, is_active, is_staff, is_superuser, date_joined,
    organisation_role, suspended_reason)
SELECT %(password)s, 'load-seller-' || g || '@load.invalid', 'Seller ' || g, 'seller', gen_random_uuid(),
       'en', now(), now(), true, false, false, now(), '', ''
FROM generate_series(1, %(sellers)s) g;

INSERT INTO accounts_sellerdatakey (seller_id, wrapped_key, created_at)
SELECT id, %(wrapped)s, now() FROM accounts_user WHERE role = 'seller';

INSERT INTO accounts_sellerprofile (seller_id, age_band, gender, region, mobile_os, mobile_operator,
    interests_mask, affinities_mask, audience_optin_mask, sellable_mask, sellable_until, updated_at)
SELECT id,
       (ARRAY['18-24', '25-34', '35-44', '45-54', '55-64', '65+'])[1 + id %% 6],
       (ARRAY['female', 'male', 'female', 'male', 'non_binary', 'undisclosed'])[1 + (id / 6) %% 6],
       (ARRAY['FR-IDF', 'FR-IDF', 'FR-ARA', 'FR-HDF', 'FR-BRE', 'FR-GES'])[1 + (id * 7) %% 6],
       (ARRAY['android', 'android', 'ios'])[1 + (id / 3) %% 3],
       (ARRAY['orange', 'sfr', 'bouygues', 'free'])[1 + (id / 5) %% 4],
       3, 1, 0, %(sellable)s, now() + interval '364 days', now()
FROM accounts_user WHERE role = 'seller';

INSERT INTO accounts_consentgrant (seller_id, category, purpose, window_days, granted_at, expires_at, status)
SELECT u.id, c.category, 'targeted_advertising', 365, now() - interval '1 day', now() + interval '364 days',
       'active'
FROM accounts_user u CROSS JOIN (VALUES ('demographics'), ('location')) c(category)
WHERE u.role = 'seller';

INSERT INTO listings_listing (public_id, seller_id, categories_mask, purposes_mask, licence_days,
    pricing_mode, floor_price_cents, currency, auction_ends_at, status, status_reason, created_at, updated_at)
SELECT gen_random_uuid(), u.id, 3, 1, 30,
       CASE WHEN u.n <= %(fixed)s THEN 'fixed' ELSE 'auction' END, 500 + u.n %% 400, 'EUR',
       CASE WHEN u.n <= %(fixed)s THEN NULL ELSE now() + interval '1 day' END,
       'active', '', now(), now()
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM accounts_user WHERE role = 'seller') u;
ANALYZE;
"""


def seed(sellers: int, fixed: int, runs: int) -> dict:
    """The database's rows (see the module's docstring); returns what the locustfile reads."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts import crypto, taxonomy
    from accounts import services as account_services
    from accounts.models import BuyerOrganisation
    from listings.models import Listing
    from payments import services as payment_services

    with connection.cursor() as cur:
        cur.execute(
            SEED_SQL,
            {
                "password": make_password(PASSWORD),
                "sellers": sellers,
                "fixed": fixed,
                "wrapped": crypto.new_wrapped_data_key(),
                "sellable": taxonomy.pairs_mask(["demographics", "location"], ["targeted_advertising"]),
            },
        )
    keys: list[list[str]] = []
    for run in range(runs):
        keys.append([])
        for slot in range(SLOTS):
            n = run * SLOTS + slot
            organisation = account_services.organisation_create(
                legal_name=f"Load Advertiser {n}",
                registration_number=f"L{n:08d}",
                country="FR",
                website="https://load.example",
                contact_name="Load",
                contact_email=f"advertiser{n}@load.example",
            )
            BuyerOrganisation.objects.filter(pk=organisation.pk).update(verification_status="verified")
            payment_services.payment_method_save(
                organisation_id=organisation.pk, payment_method_id="pm_card_visa"
            )
            _key, plaintext = account_services.api_key_create(organisation=organisation, name="load")
            keys[run].append(plaintext)
    listings = Listing.objects.order_by("pk")
    web_sellers = [f"load-seller-{n}@load.invalid" for n in range(fixed + 1, fixed + 1 + runs * SLOTS)]
    return {
        "password": PASSWORD,
        "sellers": web_sellers,  # sellers of auction listings: nobody buys their data now
        "slots": SLOTS,
        "runs": runs,
        "keys": keys,
        "fixed": [str(p) for p in listings.filter(pricing_mode="fixed").values_list("public_id", flat=True)],
        "auctions": [
            str(p) for p in listings.filter(pricing_mode="auction").values_list("public_id", flat=True)
        ],
    }


# ---------------------------------------------------------------------------------------------
# Locust runs and their figures
# ---------------------------------------------------------------------------------------------


@dataclass
class Op:
    name: str
    requests: int
    failures: int
    per_s: float
    p50_ms: float
    p99_ms: float


@dataclass
class RunResult:
    users: int
    seconds: float
    ops: list[Op]
    total: Op
    failures: list[str]

    @property
    def error_rate(self) -> float:
        return self.total.failures / max(self.total.requests, 1)

    @property
    def worst_p99(self) -> Op:
        """The slowest operation at p99, logins aside: a seller logs in once, as they join, and
        its cost is the password hash's (PBKDF2, 1,000,000 iterations: ~1 s of CPU) by design."""
        return max((op for op in self.ops if op.name not in LOGIN_OPS), key=lambda op: op.p99_ms)


def _ms(value: str) -> float:
    return 0.0 if value in ("", "N/A") else float(value)


def run_locust(host: str, data_file: Path, run: int, users: int, seconds: int, workdir: Path) -> RunResult:
    prefix = workdir / f"run{run}"
    env = {
        **os.environ,
        "LOAD_DATA": str(data_file),
        "LOAD_RUN": str(run),
        "LOAD_SELLERS": str(users // 2),
        "LOAD_MEASURE_SECONDS": str(seconds),
        "PYTHONPATH": str(ROOT),
    }
    spawn_rate = 2  # a seller login (PBKDF2) a second: about the CPU of one core
    cmd = [
        LOCUST,
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        f"{seconds + 300}s",  # a cap: the locustfile stops `seconds` after the last login
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    print(f"locust: {users} users for {seconds} s (run {run})", flush=True)
    log = ROOT / "bench" / "out" / f"load-locust-{run}.log"
    subprocess.run(
        cmd,
        env=env,
        cwd=ROOT,
        check=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    ops: list[Op] = []
    total = None
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            op = Op(
                name=(row["Name"] if row["Type"] != "" else "all"),
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                per_s=float(row["Requests/s"]),
                p50_ms=_ms(row["50%"]),
                p99_ms=_ms(row["99%"]),
            )
            if row["Name"] == "Aggregated":
                total = op
            elif op.requests:  # an operation seen only before the stats were reset
                ops.append(op)
    failures = []
    with open(f"{prefix}_failures.csv") as handle:
        for row in csv.DictReader(handle):
            failures.append(f"{row['Occurrences']} x {row['Method']} {row['Name']}: {row['Error'][:300]}")
    assert total is not None and ops, f"locust wrote no stats (see {log})"
    if "measuring" not in log.read_text():
        raise SystemExit(f"locust never opened the measured window: not every seller logged in (see {log})")
    return RunResult(users, seconds, ops, total, failures)


def print_run(result: RunResult) -> None:
    print(f"  {'operation':<20} {'requests':>8} {'per s':>7} {'p50 ms':>7} {'p99 ms':>7} {'failures':>8}")
    for op in sorted(result.ops, key=lambda o: o.name):
        print(
            f"  {op.name:<20} {op.requests:>8} {op.per_s:>7.1f} {op.p50_ms:>7.0f} {op.p99_ms:>7.0f} {op.failures:>8}"
        )
    t = result.total
    print(
        f"  {'all':<20} {t.requests:>8} {t.per_s:>7.1f} {t.p50_ms:>7.0f} {t.p99_ms:>7.0f} {t.failures:>8}"
        f"   error rate {result.error_rate:.4f}, worst p99 {result.worst_p99.p99_ms:.0f} ms ({result.worst_p99.name})",
        flush=True,
    )
    for line in result.failures:
        print(f"  failure: {line}")


def drain(timeout: float) -> int:
    """Wait until no trade or payment is left in flight (the worker and beat settle them);
    returns how many trades are still not final."""
    from django.db import connection

    from marketplace.models import Trade

    in_flight = Trade.objects.filter(
        status__in=[Trade.Status.PENDING_PAYMENT, Trade.Status.PAID, Trade.Status.DELIVERED]
    )
    deadline = time.monotonic() + timeout
    left = in_flight.count()
    while left and time.monotonic() < deadline:
        time.sleep(2)
        left = in_flight.count()
    connection.close()
    return left


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("LOAD_SECONDS", "300")))
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOAD_USERS", "10")))
    parser.add_argument(
        "--steps", default=os.environ.get("LOAD_STEPS", ""), help="user counts to step through first"
    )
    parser.add_argument("--step-seconds", type=int, default=int(os.environ.get("LOAD_STEP_SECONDS", "60")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("LOAD_GUNICORN_WORKERS", "3")))
    parser.add_argument("--sellers", type=int, default=24_000)
    parser.add_argument("--fixed", type=int, default=12_000, help="fixed-price listings (bought now)")
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    if any(n % 2 or n < 2 for n in [args.users, *steps]):
        raise SystemExit("user counts must be even: half sellers, half advertisers")
    if max([args.users, *steps]) > 2 * SLOTS:
        raise SystemExit(f"at most {2 * SLOTS} users (half are advertisers, {SLOTS} organisations per run)")

    url = db_url()
    redis_url = os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS)
    workdir = Path(tempfile.mkdtemp(prefix="courtier-load-"))
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    api_port, connect_port, web_port = free_port(), free_port(), free_port()
    host = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.load_settings",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": redis_url,
        "RATELIMIT_CACHE_URL": redis_url,
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": f"http://127.0.0.1:{api_port}",
        "STRIPE_CONNECT_API_BASE": f"http://127.0.0.1:{connect_port}",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SITE_URL": host,
        "CELERY_DB_REUSE_MAX": "1000000",
        "LOAD_BEAT_SCHEDULE": str(workdir / "beat-schedule"),
    }
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"})
    processes: list[subprocess.Popen] = []
    server = None
    results: list[RunResult] = []
    try:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        py = sys.executable
        processes.append(
            start(
                [
                    py,
                    "-m",
                    "devtools.stripe_sandbox",
                    "localstripe",
                    "--port",
                    str(api_port),
                    "--connect",
                    f"http://127.0.0.1:{connect_port}",
                ],
                env,
                logs / "load-localstripe.log",
            )
        )
        processes.append(
            start(
                [
                    py,
                    "-m",
                    "devtools.stripe_sandbox",
                    "connect",
                    "--port",
                    str(connect_port),
                    "--localstripe",
                    f"http://127.0.0.1:{api_port}",
                    "--webhook-url",
                    f"{host}/webhooks/stripe/",
                    "--webhook-secret",
                    WEBHOOK_SECRET,
                ],
                env,
                logs / "load-connect.log",
            )
        )
        wait_http(f"http://127.0.0.1:{api_port}/v1/customers")
        wait_http(f"http://127.0.0.1:{connect_port}/v1/accounts")

        from bench import pg

        cfg = __import__("environ").Env.db_url_config(url)
        pg.recreate_database(cfg)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        t0 = time.monotonic()
        data = seed(args.sellers, args.fixed, len(steps) + 1)
        connection.close()
        data_file = workdir / "data.json"
        data_file.write_text(json.dumps(data))
        print(
            f"set-up: {args.sellers} sellers ({args.fixed} fixed-price listings, the rest auctions), "
            f"{len(data['keys']) * SLOTS} organisations in {time.monotonic() - t0:.0f} s",
            flush=True,
        )

        server = start_gunicorn("bench.load_settings", env, web_port, args.workers)
        celery = [py, "-m", "celery", "-A", "config"]
        processes.append(
            start(
                [
                    *celery,
                    "worker",
                    "-Q",
                    QUEUES,
                    "--pool=prefork",
                    "--concurrency=1",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=WARNING",
                    "-n",
                    "load@%h",
                ],
                env,
                logs / "load-worker.log",
            )
        )
        processes.append(start([*celery, "beat", "--loglevel=WARNING"], env, logs / "load-beat.log"))
        print(
            f"stack: gunicorn {args.workers} sync workers on {host}, a Celery worker (1 process), beat",
            flush=True,
        )

        for run, users in enumerate(steps):
            result = run_locust(host, data_file, run, users, args.step_seconds, workdir)
            results.append(result)
            print_run(result)
        if steps:
            good = [r for r in results if r.error_rate == 0 and r.worst_p99.p99_ms <= P99_GOAL_MS]
            best = max(good, key=lambda r: r.total.per_s) if good else None
            print(
                "steps: "
                + ", ".join(
                    f"{r.users} users {r.total.per_s:.1f}/s p99 {r.worst_p99.p99_ms:.0f}" for r in results
                )
                + (
                    f"; highest rate with worst p99 <= {P99_GOAL_MS} ms and no error: "
                    f"{best.total.per_s:.1f} ops/s ({best.users} users)"
                    if best
                    else f"; no step kept worst p99 <= {P99_GOAL_MS} ms with no error"
                ),
                flush=True,
            )
        main_result = run_locust(host, data_file, len(steps), args.users, args.seconds, workdir)
        print_run(main_result)

        left = drain(120)
        print(f"queues drained: {left} trades not final after the wait", flush=True)
        check = subprocess.run(
            [py, "manage.py", "check_invariants", "--with-stripe"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        print(check.stdout.strip() or check.stderr.strip()[-2000:], flush=True)
        violations = [
            int(line.split("=", 1)[1])
            for line in check.stdout.splitlines()
            if line.startswith("invariant_violations=")
        ]
        if not violations:
            print(check.stderr[-2000:])
    finally:
        if server is not None:
            stop(server)
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
    invariant_violations = violations[0] if violations else -1
    print(
        f"ops_per_s={main_result.total.per_s:.1f} worst_p99_ms={main_result.worst_p99.p99_ms:.0f} "
        f"error_rate={main_result.error_rate:.4f} invariant_violations={invariant_violations}"
    )


if __name__ == "__main__":
    main()
