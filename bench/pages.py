"""Benchmark the seller's web pages against a bare page render (`make bench-pages`).

A seller with 1,000 settled trades (tests/marketplace/seller_history.py: two buyers, one sale a
day back from now, an access grant and a read per sale, deletion notices in every state) in a
database of its own (BENCH_DATABASE_URL, default courtier_bench_pages; dropped, migrated and
seeded on each run). Django's test client, logged in with force_login, asks in turn for each
seller page (the dashboard at `/`, consents, who bought my data, earnings and payouts, what is
my data worth) and for /bench/bare-page/ (bench/pages_urls.py: the same middleware and
seller_required, then `base.html` with an empty context): one round asks each once, so every
page and the bare render see the same machine. In process, no HTTP server: it measures the
request path from the middleware to the rendered body, queries included (settings:
bench/pages_settings.py, DEBUG off, a persistent PostgreSQL connection).

Each page's query count is that of one more request inside CaptureQueriesContext (not timed).

The last line printed is always:
    pages=<n> worst_p50_ms=<2 decimals> worst_queries=<int> bare_p50_ms=<2 decimals> ratio=<2 decimals>
where worst_p50_ms is the highest page p50, worst_queries the highest page count and ratio
worst_p50_ms / bare_p50_ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.pages_settings"

from bench import pg  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/courtier_bench_pages"
PAGES = ("seller-dashboard", "seller-consents", "seller-sales", "seller-payouts", "seller-worth")
BARE = "bench-bare-page"


def seed(trades: int):
    from django.core.management import call_command

    from tests.marketplace.seller_history import seller_with_sales

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    seller, _buyers = seller_with_sales(trades)
    print(f"seeded a seller with {trades} trades in {time.perf_counter() - started:.1f} s", flush=True)
    return seller


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page first")
    args = parser.parse_args()

    cfg = pg.db_config(DEFAULT_URL)
    pg.recreate_database(cfg)
    pg.configure_django(cfg)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    seller = seed(args.trades)
    client = Client()
    client.force_login(seller)
    urls = {name: reverse(name) for name in (*PAGES, BARE)}

    for name, url in urls.items():
        for _ in range(args.warmup):
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{name} ({url}) answered {response.status_code}")

    queries = {}
    for name, url in urls.items():
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        queries[name] = len(captured)

    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(args.requests):
        for name, url in urls.items():
            started = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)

    p50 = {name: statistics.median(values) for name, values in times.items()}
    for name in urls:
        p90 = statistics.quantiles(times[name], n=10)[-1]
        print(f"{name:18} {urls[name]:22} p50_ms={p50[name]:7.2f} p90_ms={p90:7.2f} queries={queries[name]}")
    worst_p50 = max(p50[name] for name in PAGES)
    worst_queries = max(queries[name] for name in PAGES)
    print(
        f"pages={len(PAGES)} worst_p50_ms={worst_p50:.2f} worst_queries={worst_queries} "
        f"bare_p50_ms={p50[BARE]:.2f} ratio={worst_p50 / p50[BARE]:.2f}"
    )


if __name__ == "__main__":
    main()
