"""Single-process profile of bench/api.py's operations (no HTTP server): cProfile over N requests
of one operation through Django's handler with bench/api_settings.py, the queries one request
runs, and the CPU per request unprofiled, against the bare endpoint's in the same process.

Runs on the clone a `make bench-api` run leaves (run that first, with the same
BENCH_DATABASE_URL and BENCH_CACHE_URL):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/courtier_bench_api \
        .venv/bin/python bench/profile_api.py --op records --requests 1000
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.api_settings"
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtier_bench_api")

import django  # noqa: E402

django.setup()

from bench.api import BARE_PATH, OPS, reader_keys, request_lines  # noqa: E402
from bench.bids import create_buyers  # noqa: E402


def requester(op: str, bare: bool, count: int) -> Callable[[], None]:
    """A function sending the next request of `op` (or its bare twin) and checking its status."""
    from django.test import Client

    from bench.api import EXPECTED

    client = Client(HTTP_HOST="127.0.0.1")
    lines = [line.split("\t") for line in request_lines(op, 16)]
    if op == "bids":
        keys = create_buyers(-(-count // len(lines)) + 1)
        per_key = len(lines)
    else:
        keys = reader_keys(16)
        per_key = None
    n = 0

    def send() -> None:
        nonlocal n
        who, method, path, body = lines[n % len(lines)]
        key = keys[n // per_key] if per_key else keys[int(who) if who != "*" else n % len(keys)]
        n += 1
        kwargs = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
        target = BARE_PATH if bare else path
        if method == "POST":
            response = client.post(target, body, content_type="application/json", **kwargs)
        else:
            response = client.get(target, **kwargs)
        expected = 200 if bare else EXPECTED[op]
        assert response.status_code == expected, (response.status_code, response.content[:500])

    return send


def cpu_ms(send: Callable[[], None], count: int) -> tuple[float, float]:
    """CPU ms per request of this process and of its PostgreSQL backend."""
    from django.db import connection

    from bench.server import cpu_seconds

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu0, db0 = time.process_time(), cpu_seconds([backend])
    for _ in range(count):
        send()
    cpu, db = time.process_time() - cpu0, cpu_seconds([backend]) - db0
    return cpu / count * 1000, db / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--op", choices=OPS, required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    send = requester(args.op, False, 3 * args.requests + 40)
    bare = requester(args.op, True, 0)
    for _ in range(20):
        send()
        bare()
    with CaptureQueriesContext(connection) as captured:
        send()
    print(f"queries per {args.op} request: {len(captured.captured_queries)}")
    for q in captured.captured_queries:
        print("  ", q["sql"][:600])
    if not args.no_profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not waits on PostgreSQL or Redis
        profiler.enable()
        for _ in range(args.requests):
            send()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue())
        profiler.dump_stats(str(ROOT / "bench" / "out" / f"profile_api_{args.op}.prof"))
    (op_ms, op_db), (bare_ms, bare_db) = cpu_ms(send, args.requests), cpu_ms(bare, args.requests)
    print(
        f"unprofiled, CPU ms per request (this process + its PostgreSQL backend): {args.op} "
        f"{op_ms:.2f} + {op_db:.2f}, bare {bare_ms:.2f} + {bare_db:.2f}, "
        f"ratio {(bare_ms + bare_db) / (op_ms + op_db):.2f}"
    )
    print(
        json.dumps(
            {
                "op": args.op,
                "cpu_ms": round(op_ms, 3),
                "db_ms": round(op_db, 3),
                "bare_cpu_ms": round(bare_ms, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
