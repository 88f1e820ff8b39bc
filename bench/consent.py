"""Benchmark the consent expiry sweep against a bare SQL UPDATE (`make bench-consent`).

Loads N consent grants (default 1,000,000, one in ten due) into a database of its own, then
times `accounts.services.consent_expire_due` (claim, flip, append an `expired` event with its
receipt; batched, one transaction per batch) and a bare one-statement
`UPDATE ... SET status = 'expired'` of the same rows in an identical copy table.

The loaded data is kept as a template database `<name>_seed`; every measurement runs in a fresh
clone `<name>` of it, so repeats and experiments all start from the same state. `--keep` reuses
the seed when it matches the requested size and layout instead of rebuilding it.

The last line printed is always:
    sweep_rows_per_s=<int> bare_rows_per_s=<int> ratio=<2 decimals>
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

from bench import pg  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/courtier_bench"
COMBOS_PER_SELLER = 40  # of the 7 categories x 6 purposes = 42
DUE_EVERY = 10  # one grant in ten is due
COPY_TABLE = "bench_grant_copy"


def backend_cpu_seconds() -> float | None:
    """CPU time used so far by the PostgreSQL backend of Django's connection (local server only).

    Other work on the machine inflates wall-clock times; backend CPU time much less so.
    """
    (pid,) = pg.fetchall("SELECT pg_backend_pid()")[0]
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # the server runs elsewhere
    if "(postgres" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# Seed: users, grants and the copy table, all set-based
# ---------------------------------------------------------------------------------------------

SELLERS_SQL = """
INSERT INTO accounts_user (password, last_login, is_superuser, email, full_name, role, pseudonym,
                           preferred_language, email_verified_at, phone_verified_at, erased_at,
                           is_active, is_staff, date_joined, organisation_id)
SELECT '!', NULL, false, 'bench-seller-' || n || '@bench.invalid', '', 'seller', gen_random_uuid(),
       'en', NULL, NULL, NULL, true, false, now(), NULL
FROM generate_series(1, %(sellers)s) AS n
"""

# Grant i belongs to the (i / 40)th seller with combination i % 40 of (category, purpose): every
# (seller, category, purpose) is distinct. Exactly %(due)s grants, picked at random, expired within
# the 30 days before %(now)s; the others expire after it, within their window.
GRANTS_SQL = """
WITH sellers AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM accounts_user WHERE role = 'seller'
), g AS (
    SELECT i,
           row_number() OVER (ORDER BY random()) <= %(due)s AS due,
           (ARRAY[30, 90, 180, 365])[1 + floor(random() * 4)::int] AS w,
           random() AS r
    FROM generate_series(0, %(grants)s - 1) AS i
), e AS (
    SELECT g.*,
           CASE WHEN g.due
                THEN %(now)s::timestamptz - make_interval(secs => 1 + floor(g.r * 30 * 86400))
                ELSE %(now)s::timestamptz + make_interval(secs => 1 + floor(g.r * (g.w * 86400 - 2)))
           END AS expires_at
    FROM g
)
INSERT INTO accounts_consentgrant (seller_id, category, purpose, window_days, granted_at, expires_at,
                                   ended_at, status, renewed_from_id, reminder_sent_at)
SELECT s.id,
       (%(categories)s::text[])[1 + (e.i %% 40) / 6],
       (%(purposes)s::text[])[1 + (e.i %% 40) %% 6],
       e.w, e.expires_at - make_interval(days => e.w), e.expires_at, NULL, 'active', NULL, NULL
FROM e JOIN sellers s ON s.k = e.i / 40
ORDER BY {order}
"""

# Physical order of the loaded grants (and so of their ids).
#   chronological: by granted_at, as the application appends them. Sellers are interleaved and
#                  the due grants sit in a few regions of the table, one per window length.
#   scattered:     grouped by seller, due grants at random places (the worst case for a sweep
#                  that walks them by due date).
LAYOUTS = {"chronological": "e.expires_at - make_interval(days => e.w), e.i", "scattered": "e.i"}


@contextlib.contextmanager
def foreign_keys_dropped(table: str) -> Iterator[None]:
    """Drop `table`'s foreign keys during a bulk load and put them back after.

    Putting a foreign key back validates it with one set-based query instead of one check per
    row. The indexes stay during the load: they grow as they do in production, page splits
    and all, rather than freshly built and tightly packed.
    """
    constraints = pg.fetchall(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    for name, _definition in constraints:
        pg.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    yield
    for name, definition in constraints:
        pg.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def build_seed(seed: str, grants: int, layout: str, now: datetime) -> None:
    from django.core.management import call_command

    from accounts.taxonomy import DataCategory, Purpose

    pg.use_database(seed)
    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    sellers = -(-grants // COMBOS_PER_SELLER)
    due = grants // DUE_EVERY
    pg.execute("SELECT setseed(0.42)")
    pg.execute(SELLERS_SQL, {"sellers": sellers})
    t1 = time.perf_counter()
    with foreign_keys_dropped("accounts_consentgrant"):
        inserted = pg.execute(
            GRANTS_SQL.format(order=LAYOUTS[layout]),
            {
                "grants": grants,
                "due": due,
                "now": now,
                "categories": list(DataCategory.values),
                "purposes": list(Purpose.values),
            },
        )
    if inserted != grants:
        raise SystemExit(f"loaded {inserted} grants, expected {grants}")
    for table in ("accounts_user", "accounts_consentgrant", "accounts_consentevent"):
        pg.execute(f"VACUUM ANALYZE {table}")
    t2 = time.perf_counter()
    # The bare baseline's table: same columns, constraints, defaults and indexes, same rows in the
    # same physical order, loaded and vacuumed before anything is timed.
    pg.execute(f"CREATE TABLE {COPY_TABLE} (LIKE accounts_consentgrant INCLUDING ALL)")
    pg.execute(f"INSERT INTO {COPY_TABLE} SELECT * FROM accounts_consentgrant ORDER BY id")
    pg.execute(f"VACUUM ANALYZE {COPY_TABLE}")
    pg.execute(
        "CREATE TABLE bench_meta (now timestamptz NOT NULL, grants integer NOT NULL, layout text NOT NULL)"
    )
    pg.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)", [now, grants, layout])
    t3 = time.perf_counter()
    pg.use_database(None)
    print(
        f"seed: {sellers} sellers, {grants} grants ({due} due, {layout} layout) in {seed}: "
        f"migrate+sellers {t1 - t0:.1f}s, grants {t2 - t1:.1f}s, copy table {t3 - t2:.1f}s",
        flush=True,
    )


def seed_meta(admin, cfg: dict, seed: str) -> tuple[datetime, int, str] | None:
    if not pg.database_exists(admin, seed):
        return None
    conn = pg.connect(cfg, seed)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('bench_meta') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT now, grants, layout FROM bench_meta")
            row = cur.fetchone()
            return (row[0], row[1], row[2]) if row else None
    finally:
        conn.close()


def fresh_clone(admin, name: str, seed: str) -> None:
    pg.use_database(None)
    pg.drop_database(admin, name)
    pg.create_database(admin, name, template=seed)
    pg.use_database(name)
    # No autovacuum/autoanalyze kicking in halfway through a measurement.
    for table in ("accounts_consentgrant", "accounts_consentevent", COPY_TABLE):
        pg.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    pg.execute("CHECKPOINT")


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    rows: int
    seconds: float
    cpu: float | None
    handlers: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def describe(self) -> str:
        cpu = f", backend cpu {self.cpu:.2f}s" if self.cpu is not None else ""
        handlers = ""
        if self.handlers is not None:
            handlers = f", of which {self.handlers:.2f}s in the consent-change handlers"
        return f"{self.rows} rows in {self.seconds:.3f}s ({self.rate:.0f} rows/s{cpu}{handlers})"


def timed(work: Callable[[], int]) -> Timing:
    cpu0 = backend_cpu_seconds()
    t0 = time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - t0
    cpu1 = backend_cpu_seconds()
    return Timing(rows, seconds, None if cpu0 is None or cpu1 is None else cpu1 - cpu0)


@contextlib.contextmanager
def handlers_timed() -> Iterator[list[float]]:
    """Add up the time spent in the consent-change handlers other apps register with accounts.hooks.

    The sweep runs them in each batch's transaction (listings, marketplace). They are part of
    what is measured; this only says how much of it they are. Yields [seconds], or [] when
    accounts.hooks has no such runner.
    """
    from accounts import hooks

    runner = next(
        (n for n in ("run_consent_change_handlers", "run_consent_end_handlers") if hasattr(hooks, n)), None
    )
    if runner is None:
        yield []
        return
    original = getattr(hooks, runner)
    spent = [0.0]
    lock = threading.Lock()

    def timed_runner(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                spent[0] += time.perf_counter() - t0

    setattr(hooks, runner, timed_runner)
    try:
        yield spent
    finally:
        setattr(hooks, runner, original)


def time_sweep(now: datetime, batch_size: int, workers: int = 1) -> Timing:
    """Time consent_expire_due; with workers > 1, that many concurrent calls (one connection each).

    The sweep is built for it: batches claim with FOR UPDATE SKIP LOCKED, so concurrent sweeps
    share the due grants and each grant expires exactly once (verify_sweep checks it).
    """
    from accounts.services import consent_expire_due

    with handlers_timed() as handlers:
        if workers == 1:
            timing = timed(lambda: consent_expire_due(now=now, batch_size=batch_size))
        else:
            timing = concurrent_sweeps(now, batch_size, workers)
    timing.handlers = handlers[0] if handlers else None
    return timing


def concurrent_sweeps(now: datetime, batch_size: int, workers: int) -> Timing:
    from django.db import connection

    from accounts.services import consent_expire_due

    start = threading.Barrier(workers + 1)

    def worker() -> tuple[int, float | None]:
        try:
            cpu0 = backend_cpu_seconds()
            start.wait()
            rows = consent_expire_due(now=now, batch_size=batch_size)
            cpu1 = backend_cpu_seconds()
            return rows, None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        start.wait()
        t0 = time.perf_counter()
        results = [future.result() for future in futures]
        seconds = time.perf_counter() - t0
    cpus = [cpu for _rows, cpu in results]
    total_cpu = None if any(cpu is None for cpu in cpus) else sum(cpu for cpu in cpus if cpu is not None)
    return Timing(sum(rows for rows, _cpu in results), seconds, total_cpu)


def verify_sweep(due: int) -> None:
    ((grants_expired, grants_active),) = pg.fetchall(
        "SELECT count(*) FILTER (WHERE status = 'expired' AND ended_at = expires_at),"
        "       count(*) FILTER (WHERE status = 'active') FROM accounts_consentgrant"
    )
    ((events, distinct_grants, good_receipts),) = pg.fetchall(
        """
        SELECT count(*), count(DISTINCT e.grant_id),
               count(*) FILTER (WHERE r.doc ->> 'consentReceiptID' = e.receipt_id::text
                                  AND r.doc ->> 'piiPrincipalId' = u.pseudonym::text
                                  AND (r.doc ->> 'grantId')::bigint = g.id
                                  AND r.doc ->> 'eventType' = 'expired'
                                  AND r.doc -> 'services' -> 0 -> 'purposes' -> 0 ->> 'purposeCode' = g.purpose
                                  AND r.doc -> 'services' -> 0 -> 'purposes' -> 0 -> 'piiCategoryCode'
                                      ? g.category
                                  AND (r.doc ->> 'consentTimestamp')::bigint
                                      = floor(extract(epoch FROM g.expires_at))
                                  AND (r.doc ->> 'windowStart')::timestamptz = g.granted_at
                                  AND (r.doc ->> 'windowEnd')::timestamptz = g.expires_at
                                  AND e.occurred_at = g.expires_at AND e.seller_id = g.seller_id)
        FROM accounts_consentevent e
        JOIN accounts_consentgrant g ON g.id = e.grant_id
        JOIN accounts_user u ON u.id = g.seller_id
        -- the receipt as issued: its template (when it has one) followed by its own fields
        LEFT JOIN accounts_receipttemplate t ON t.id = e.template_id
        CROSS JOIN LATERAL (SELECT coalesce(t.body, '{}'::jsonb) || e.receipt AS doc) r
        WHERE e.kind = 'expired'
        """
    )
    problems = []
    if grants_expired != due:
        problems.append(f"{grants_expired} grants expired, expected {due}")
    if events != due or distinct_grants != due:
        problems.append(f"{events} expired events for {distinct_grants} grants, expected {due}")
    if good_receipts != due:
        problems.append(f"{good_receipts} events with a matching receipt, expected {due}")
    if problems:
        raise SystemExit("sweep verification failed: " + "; ".join(problems))
    print(
        f"  verified: {grants_expired} grants expired, {events} expired events, each with its receipt "
        f"(consentReceiptID, piiPrincipalId, grant, window); {grants_active} grants still active",
        flush=True,
    )


BARE_SQL = (
    f"UPDATE {COPY_TABLE} SET status = 'expired', ended_at = expires_at "
    "WHERE status = 'active' AND expires_at < %s"
)


def time_bare(now: datetime) -> Timing:
    from django.db import transaction

    def work() -> int:
        with transaction.atomic():
            return pg.execute(BARE_SQL, [now])

    return timed(work)


# ---------------------------------------------------------------------------------------------
# Experiments: candidate changes measured on a fresh clone, without touching accounts/
# ---------------------------------------------------------------------------------------------

# The changes measured here before that stay in accounts: receipts by template reference, one
# composite foreign key, no duplicate seller index (migration 0005). One bound remains.
RUNTIME_CHANGES = {
    # The consent-change handlers (listings, marketplace) must run; this shows what the sweep
    # would cost if they were free.
    "no-handlers": "accounts.hooks consent-change handlers emptied",
}


def parse_experiment(value: str) -> list[str]:
    """Parse --experiment: change names joined by '+'."""
    parts = value.split("+")
    unknown = [p for p in parts if p not in RUNTIME_CHANGES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown change {unknown[0]!r} (known: {', '.join(RUNTIME_CHANGES)})"
        )
    return parts


def run_experiment(changes: list[str], now: datetime, batch_size: int, workers: int, due: int) -> Timing:
    from accounts import hooks

    handlers = hooks._consent_change_handlers
    saved = list(handlers)
    handlers.clear()
    try:
        timing = time_sweep(now, batch_size, workers)
    finally:
        handlers[:] = saved
    note = f", {workers} concurrent sweeps" if workers > 1 else ""
    print(f"experiment {'+'.join(changes)}: {timing.describe()}, batch size {batch_size}{note}", flush=True)
    verify_sweep(due)
    return timing


# ---------------------------------------------------------------------------------------------


def median_timing(timings: list[Timing]) -> Timing:
    """The run with the median rate (the middle one of an odd count)."""
    return sorted(timings, key=lambda t: t.rate)[(len(timings) - 1) // 2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grants", type=int, default=1_000_000)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="chronological")
    parser.add_argument("--batch-size", type=int, default=None, help="default: CONSENT_SWEEP_BATCH_SIZE")
    parser.add_argument("--keep", action="store_true", help="reuse the seed database if it matches")
    parser.add_argument("--repeat", type=int, default=1, help="measure N times, report the median")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run N sweeps concurrently (default 1: one call, as the task does)",
    )
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        type=parse_experiment,
        metavar="CHANGE[+CHANGE...]",
        help=f"also time the sweep with a bound applied (repeatable): {', '.join(RUNTIME_CHANGES)}",
    )
    args = parser.parse_args(argv)
    if args.grants < COMBOS_PER_SELLER * DUE_EVERY or args.repeat < 1 or args.workers < 1:
        parser.error("--grants must be at least 400, --repeat and --workers at least 1")

    cfg = pg.db_config(DEFAULT_URL)
    name = cfg["NAME"]
    seed = f"{name}_seed"
    pg.configure_django(cfg)
    from django.conf import settings
    from django.utils import timezone

    admin = pg.connect(cfg)
    meta = seed_meta(admin, cfg, seed) if args.keep else None
    if meta is not None and meta[1:] == (args.grants, args.layout):
        now = meta[0]
        print(f"seed: reusing {seed} ({meta[1]} grants, {meta[2]} layout, now={now.isoformat()})", flush=True)
    else:
        pg.drop_database(admin, seed)
        pg.create_database(admin, seed)
        now = timezone.now().replace(microsecond=0)
        build_seed(seed, args.grants, args.layout, now)

    due = args.grants // DUE_EVERY
    batch_size = args.batch_size or settings.CONSENT_SWEEP_BATCH_SIZE
    workers_note = f", {args.workers} concurrent sweeps" if args.workers > 1 else ""
    sweeps: list[Timing] = []
    bares: list[Timing] = []
    for run in range(1, args.repeat + 1):
        fresh_clone(admin, name, seed)
        sweep = time_sweep(now, batch_size, args.workers)
        print(f"run {run} sweep: {sweep.describe()}, batch size {batch_size}{workers_note}", flush=True)
        verify_sweep(due)
        bare = time_bare(now)
        print(f"run {run} bare:  {bare.describe()}, one UPDATE in one transaction", flush=True)
        if sweep.rows != due or bare.rows != due:
            raise SystemExit(f"sweep expired {sweep.rows} and bare updated {bare.rows} rows, expected {due}")
        sweeps.append(sweep)
        bares.append(bare)
    sweep, bare = median_timing(sweeps), median_timing(bares)
    if sweep.cpu is not None and bare.cpu is not None:
        print(
            f"backend cpu per row: sweep {sweep.cpu / sweep.rows * 1e6:.0f}us, bare {bare.cpu / bare.rows * 1e6:.0f}us, "
            f"cpu ratio {(bare.cpu / bare.rows) / (sweep.cpu / sweep.rows):.2f}",
            flush=True,
        )

    for changes in args.experiment:
        results = []
        for _ in range(args.repeat):
            fresh_clone(admin, name, seed)
            timing = run_experiment(changes, now, batch_size, args.workers, due)
            if timing is None:
                break
            results.append(timing)
        if results:
            median = median_timing(results)
            cpu = ""
            if median.cpu is not None and bare.cpu is not None:
                cpu = f" cpu_ratio={(bare.cpu / bare.rows) / (median.cpu / median.rows):.2f}"
            print(
                f"experiment {'+'.join(changes)}: rows_per_s={median.rate:.0f} ratio={median.rate / bare.rate:.2f}{cpu}"
            )

    pg.use_database(None)
    admin.close()
    print(
        f"sweep_rows_per_s={sweep.rate:.0f} bare_rows_per_s={bare.rate:.0f} ratio={sweep.rate / bare.rate:.2f}"
    )


if __name__ == "__main__":
    main()
