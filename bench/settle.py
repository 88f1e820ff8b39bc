"""Benchmark settlement (`make bench-settle`): trades settled by two Celery worker processes
against the local Stripe sandbox, and the latency from a winning bid's commit to an active
access grant.

Set-up (not timed): a database of its own (`courtier_bench_settle`), localstripe and the Connect
sandbox on loopback ports, sellers with profiles and valid consents, N active fixed-price
listings (SQL), 16 verified buyer organisations with a saved card at the sandbox, and two
worker processes (`-Q settlement`, prefork, one process each, connections reused).

Run (timed): injector threads buy the listings through `marketplace.services.bid_place` (the
API's service: a winning bid and its trade committed together, the settlement task queued on
commit); the workers settle them, batched per buyer. When every trade is settled the script
reads the timestamps back: throughput = trades / (last access grant − first trade commit);
latency per trade = access grant start − trade creation.

The last line printed is always:
    trades_per_s=<float> p50_ms=<int> p99_ms=<int>
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtier_bench_settle")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
API_KEY = "sk_test_courtier_local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers (401 without a key)
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def recreate_database() -> None:
    import environ
    import psycopg2

    cfg = environ.Env.db_url_config(BENCH_DB)
    if "bench" not in cfg["NAME"]:
        raise SystemExit("the benchmark database's name must contain 'bench'")
    admin = psycopg2.connect(
        dbname="postgres", user=cfg["USER"] or None, host=cfg["HOST"] or None, port=cfg["PORT"] or None
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    admin.close()


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
    args = parser.parse_args()

    api_port, connect_port = free_port(), free_port()
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": BENCH_DB,
        "CELERY_BROKER_URL": BROKER,
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
                [sys.executable, "-m", "payments.connect_sandbox", "localstripe", "--port", str(api_port)],
                env,
                logs / "settle-localstripe.log",
            )
        )
        processes.append(
            start(
                [sys.executable, "-m", "payments.connect_sandbox", "connect", "--port", str(connect_port)],
                env,
                logs / "settle-connect.log",
            )
        )
        wait_http(f"http://127.0.0.1:{api_port}/v1/customers")

        recreate_database()
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        t0 = time.monotonic()
        load(args.trades, args.sellers)
        organisations = buyers(16)
        print(
            f"loaded {args.sellers} sellers, {args.trades} listings, 16 buyers in {time.monotonic() - t0:.1f} s",
            flush=True,
        )

        from config.celery_app import app

        app.control.purge()
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
        chunks = [listing_ids[i :: args.injectors] for i in range(args.injectors)]
        errors: list[BaseException] = []

        def inject(index: int) -> None:
            try:
                for j, public_id in enumerate(chunks[index]):
                    services.bid_place(
                        organisation=organisations[(index + j) % 16], listing_public_id=public_id
                    )
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        started = time.monotonic()
        threads = [threading.Thread(target=inject, args=(i,)) for i in range(args.injectors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        injected_s = time.monotonic() - started
        if errors:
            raise errors[0]
        print(
            f"placed {len(listing_ids)} winning bids in {injected_s:.1f} s ({len(listing_ids) / injected_s:.0f}/s)",
            flush=True,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            left = Trade.objects.exclude(status="settled").count()
            if left == 0:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{left} trades still not settled after 10 minutes")

        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT extract(epoch FROM max(g.starts_at) - min(t.created_at)),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM g.starts_at - t.created_at)),
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM g.starts_at - t.created_at)),
                       count(*), count(DISTINCT t.batch_id)
                FROM marketplace_trade t
                JOIN marketplace_tradeline l ON l.trade_id = t.id
                JOIN marketplace_accessgrant g ON g.trade_line_id = l.id
                """
            )
            span, p50, p99, settled, batches = cur.fetchone()
        assert settled == AccessGrant.objects.count() == len(listing_ids)
        from payments import ledger

        assert ledger.unbalanced_transactions() == []
        print(
            f"settled {settled} trades in {batches} batches (about {settled / batches:.1f} trades per Stripe payment)"
        )
        print(
            f"first commit to last access grant: {span:.1f} s; latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
        print(f"trades_per_s={settled / span:.1f} p50_ms={p50 * 1000:.0f} p99_ms={p99 * 1000:.0f}")
    finally:
        for process in processes:
            with contextlib_suppress():
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            with contextlib_suppress():
                process.wait(timeout=20)


def contextlib_suppress():
    import contextlib

    return contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired)


if __name__ == "__main__":
    main()
