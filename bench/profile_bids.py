"""Single-process profile of the bid endpoint (no HTTP server): cProfile over N bid POSTs through
Django's WSGI handler with bench/bids_settings.py, plus the queries one bid runs.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/courtier_bench_bids_prof \
        .venv/bin/python bench/profile_bids.py --bids 2000 [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.bids_settings"
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtier_bench_bids_prof")

from bench import bids, pg  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bids", type=int, default=2000)
    parser.add_argument("--listings", type=int, default=2500)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    cfg = pg.db_config(os.environ["BENCH_DATABASE_URL"])
    name = cfg["NAME"]
    seed = f"{name}_seed"
    pg.configure_django(cfg)
    admin = pg.connect(cfg)
    if not args.keep or bids.seed_listings(cfg, seed) != args.listings:
        bids.build_seed(cfg, admin, seed, args.listings)
    pg.use_database("postgres")
    bids.prepare_clone(cfg, admin, name, seed)
    pg.use_database(name)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from listings.models import Listing

    listings = [str(u) for u in Listing.objects.order_by("pk").values_list("public_id", flat=True)]
    per_key = len(listings)
    keys = bids.create_buyers(max(1, -(-(2 * args.bids + 20) // per_key)))
    client = Client(HTTP_HOST="127.0.0.1")
    n = 0

    def bid() -> None:
        nonlocal n
        key, listing = keys[n // per_key], listings[n % per_key]
        n += 1
        response = client.post(
            bids.BIDS_PATH,
            json.dumps({"listing": listing, "amount_cents": 150}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        assert response.status_code == 201, (response.status_code, response.content)

    for _ in range(10):
        bid()
    with CaptureQueriesContext(connection) as captured:
        bid()
    print(f"queries per bid: {len(captured.captured_queries)}")
    for q in captured.captured_queries:
        print("  ", q["sql"][-700:])
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    for _ in range(args.bids):
        bid()
    profiler.disable()
    elapsed = time.perf_counter() - t0
    print(f"{args.bids} bids in {elapsed:.2f}s: {elapsed / args.bids * 1000:.2f} ms per bid (profiled)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(30)
    print(out.getvalue())
    profiler.dump_stats(str(ROOT / "bench" / "out" / "profile_bids.prof"))
    # timing without the profiler
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.bids):
        bid()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"unprofiled: {wall / args.bids * 1000:.2f} ms per bid, "
        f"{cpu / args.bids * 1000:.2f} ms CPU per bid in this process"
    )


if __name__ == "__main__":
    main()
