"""Benchmark placing bids over HTTP against a bare DRF endpoint (`make bench-bids`).

gunicorn (2 sync workers, persistent PostgreSQL connections, DEBUG off, no whitenoise; settings
in bench/bids_settings.py) serves the real site on a loopback port. 16 concurrent clients place
sealed bids (POST /api/v1/bids/; with --idempotency-key each carries its own Idempotency-Key)
on 10,000 active auction listings, each client with its own verified organisation and API key.
In the same run, alternating with the bids in slices so that both see the same machine, the
same 16 clients POST to /bench/bare-bids/: the same API-key authentication and permission, then
one INSERT into a table shaped like marketplace_bid (bench/bids_urls.py).

Each client walks the listings from its own offset and each slice uses fresh organisations, so
no organisation ever bids twice on one listing (one open bid per organisation and listing): every
request should answer 201; anything else is counted and reported. After the run the bench checks
that the database holds exactly one bid per 201.

Data: a database of its own (BENCH_DATABASE_URL, default courtier_bench_bids); 10,000 sellers
with a profile (sellable for the listing, as audience_refresh leaves it), consent and one active
auction listing each are loaded once into `<name>_seed` with set-based SQL (no consent events:
placing a bid reads none), and every run clones it. The load generator is wrk with a Lua script when wrk is installed (it costs the
server's CPUs least), else a Python client with one thread per client (`--client`).

p99 is the highest p99 of the slices with wrk (wrk cannot merge histograms), exact with Python.
Wall-clock figures move with whatever else runs on the machine, so each slice also reports the
CPU time per request of the gunicorn workers and of the PostgreSQL backends serving them (read
from /proc; the server must be local), and a `cpu_ms_per_bid=… cpu_ms_per_bare=… cpu_ratio=…`
line precedes the last: the ratio a machine doing nothing else would approach.

The last line printed is always:
    bids_per_s=<int> p99_ms=<1 decimal> bare_per_s=<int> ratio=<2 decimals>
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import psycopg2  # noqa: E402

from bench import pg  # noqa: E402
from bench.server import BACKENDS_SQL, call, children, cpu_seconds, free_port, start_gunicorn, stop  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/courtier_bench_bids"
BIDS_PATH = "/api/v1/bids/"
BARE_PATH = "/bench/bare-bids/"
FLOOR_CENTS = 100
HISTORY_BUYERS = 2  # earlier (withdrawn) bids per listing in the seed: a market that has traded

# ---------------------------------------------------------------------------------------------
# Seed: sellers, consents, listings (set-based SQL), the bare table
# ---------------------------------------------------------------------------------------------

SEED_SQL = """
INSERT INTO accounts_user (password, last_login, is_superuser, email, full_name, role, pseudonym,
                           preferred_language, email_verified_at, phone_verified_at, erased_at,
                           is_active, is_staff, date_joined, organisation_id, organisation_role)
SELECT '!', NULL, false, 'bench-bids-seller-' || n || '@bench.invalid', '', 'seller',
       gen_random_uuid(), 'en', now(), now(), NULL, true, false, now(), NULL, ''
FROM generate_series(1, %(listings)s) AS n;

INSERT INTO accounts_consentgrant (seller_id, category, purpose, window_days, granted_at, expires_at,
                                   ended_at, status, renewed_from_id, reminder_sent_at)
SELECT u.id, c.category, 'targeted_advertising', 365, now() - interval '1 day',
       now() + interval '364 days', NULL, 'active', NULL, NULL
FROM accounts_user u CROSS JOIN (VALUES ('demographics'), ('location')) AS c(category)
WHERE u.role = 'seller';

INSERT INTO accounts_sellerprofile (seller_id, age_band, gender, region, mobile_os, mobile_operator,
                                    interests_mask, affinities_mask, audience_optin_mask, sellable_mask,
                                    sellable_until, birth_date_encrypted, postcode_encrypted,
                                    phone_encrypted, updated_at)
SELECT u.id, '', '', 'FR-IDF', 'android', 'orange', 0, 0, 0, %(sellable_mask)s, now() + interval '364 days',
       NULL, NULL, NULL, now()
FROM accounts_user u WHERE u.role = 'seller';

INSERT INTO listings_listing (public_id, seller_id, categories_mask, purposes_mask, licence_days,
                              pricing_mode, floor_price_cents, currency, auction_ends_at, status,
                              status_reason, suggested_price_cents, created_at, updated_at)
SELECT gen_random_uuid(), u.id, 3, 1, 30, 'auction', %(floor)s, 'EUR', now() + interval '1 day',
       'active', '', NULL, now(), now()
FROM accounts_user u WHERE u.role = 'seller' ORDER BY u.id;

CREATE TABLE bench_bare_bid (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    public_id uuid NOT NULL UNIQUE,
    organisation_id bigint NOT NULL,
    kind varchar(8) NOT NULL,
    listing uuid NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    currency varchar(3) NOT NULL,
    amount_set_at timestamptz NOT NULL,
    purpose varchar(32) NOT NULL,
    licence_days smallint NOT NULL CHECK (licence_days >= 0),
    status varchar(10) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX bench_bare_bid_ranking ON bench_bare_bid (listing, status, amount_cents DESC, amount_set_at);
CREATE INDEX bench_bare_bid_organisation ON bench_bare_bid (organisation_id, created_at DESC);

-- A market that has been trading: earlier buyers' bids on every listing, since withdrawn, with
-- their events, and the same rows in the bare table.
INSERT INTO accounts_buyerorganisation (legal_name, registration_number, country, website,
                                        contact_name, contact_email, verification_status,
                                        verification_reason, verification_decided_at, created_at,
                                        contact_phone)
SELECT 'Earlier buyer ' || n, 'bench-history-' || n, 'FR', 'https://bench.invalid', 'Bench',
       'history' || n || '@bench.invalid', 'verified', '', now(), now(), ''
FROM generate_series(1, %(history_buyers)s) AS n;

WITH bids AS (
    INSERT INTO marketplace_bid (public_id, kind, amount_cents, currency, amount_set_at, purpose,
                                 licence_days, status, status_reason, created_at, listing_id,
                                 organisation_id)
    SELECT gen_random_uuid(), 'auction', %(floor)s + o.n, 'EUR', now() - interval '1 day',
           'targeted_advertising', 30, 'cancelled', '', now() - interval '1 day', l.id, o.id
    FROM listings_listing l
    CROSS JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM accounts_buyerorganisation) o
    RETURNING id, amount_cents, created_at
)
INSERT INTO marketplace_bidevent (bid_id, from_status, to_status, amount_cents, reason, occurred_at)
SELECT id, '', 'open', amount_cents, '', created_at FROM bids;

INSERT INTO bench_bare_bid (public_id, organisation_id, kind, listing, amount_cents, currency,
                            amount_set_at, purpose, licence_days, status, created_at)
SELECT gen_random_uuid(), b.organisation_id, b.kind, l.public_id, b.amount_cents, b.currency,
       b.amount_set_at, b.purpose, b.licence_days, b.status, b.created_at
FROM marketplace_bid b JOIN listings_listing l ON l.id = b.listing_id;

CREATE TABLE bench_bids_meta (listings integer NOT NULL, version integer NOT NULL);
INSERT INTO bench_bids_meta VALUES (%(listings)s, 3);
"""


def seed_listings(cfg: dict, seed: str) -> int | None:
    try:
        conn = pg.connect(cfg, seed)
    except psycopg2.OperationalError:
        return None
    try:
        if not pg.query(conn, "SELECT to_regclass('bench_bids_meta') IS NOT NULL")[0][0]:
            return None
        if not pg.query(
            conn,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'bench_bids_meta' "
            "AND column_name = 'version'",
        )[0][0]:
            return None
        rows = pg.query(conn, "SELECT listings FROM bench_bids_meta WHERE version = 3")
        return rows[0][0] if rows else None
    finally:
        conn.close()


def build_seed(cfg: dict, admin, seed: str, listings: int) -> None:
    from django.core.management import call_command

    t0 = time.perf_counter()
    pg.drop_database(admin, seed)
    pg.create_database(admin, seed)
    pg.use_database(seed)
    call_command("migrate", interactive=False, verbosity=0)
    pg.use_database("postgres")
    conn = pg.connect(cfg, seed)
    try:
        from accounts import taxonomy

        sellable = taxonomy.pairs_mask(["demographics", "location"], ["targeted_advertising"])
        pg.query(
            conn,
            SEED_SQL,
            {
                "listings": listings,
                "floor": FLOOR_CENTS,
                "sellable_mask": sellable,
                "history_buyers": HISTORY_BUYERS,
            },
        )
        pg.query(conn, "VACUUM ANALYZE")
    finally:
        conn.close()
    print(
        f"seed: {listings} sellers with consent and an active auction listing in {seed} "
        f"({time.perf_counter() - t0:.1f}s)",
        flush=True,
    )


def prepare_clone(cfg: dict, admin, name: str, seed: str) -> None:
    pg.drop_database(admin, name)
    pg.create_database(admin, name, template=seed)
    conn = pg.connect(cfg, name)
    try:
        pg.query(
            conn,
            "UPDATE listings_listing SET auction_ends_at = now() + interval '1 day' WHERE pricing_mode = 'auction'",
        )
        pg.query(conn, "VACUUM ANALYZE listings_listing")
        pg.query(conn, "CHECKPOINT")
    finally:
        conn.close()


def paying_organisation(name: str, slug: str):
    """A verified organisation with a card on file (bids need one); the benches never reach
    Stripe, so no sandbox is asked. `slug` makes its registration number and ids unique."""
    from accounts.models import BuyerOrganisation
    from payments.models import StripeCustomer

    organisation = BuyerOrganisation.objects.create(
        legal_name=name,
        registration_number=f"bench-{slug}",
        country="FR",
        website="https://bench.invalid",
        contact_name="Bench",
        contact_email=f"{slug}@bench.invalid",
        verification_status=BuyerOrganisation.Verification.VERIFIED,
    )
    StripeCustomer.objects.create(
        organisation=organisation,
        stripe_customer_id=f"cus_bench_{slug}",
        default_payment_method_id="pm_card_visa",
    )
    return organisation


def create_buyers(count: int) -> list[str]:
    """`count` paying organisations with one API key each; returns the plaintext keys."""
    from accounts import services

    run = uuid.uuid4().hex[:8]
    keys = []
    for n in range(count):
        organisation = paying_organisation(f"Bench buyer {n}", f"{run}-{n}")
        _key, plaintext = services.api_key_create(organisation=organisation, name="bench")
        keys.append(plaintext)
    return keys


# ---------------------------------------------------------------------------------------------
# Load generators: one slice = `clients` concurrent clients on one path for `seconds`
# ---------------------------------------------------------------------------------------------


@dataclass
class Slice:
    path: str
    seconds: float
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    socket_errors: int = 0
    app_cpu_s: float = 0.0  # CPU of the gunicorn workers during the slice
    db_cpu_s: float = 0.0  # CPU of the PostgreSQL backends serving them

    @property
    def created(self) -> int:
        return self.statuses.get(201, 0)


WRK_SCRIPT = r"""
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local keys = {}
  for line in io.lines(args[1]) do keys[#keys + 1] = line end
  listings = {}
  for line in io.lines(args[2]) do listings[#listings + 1] = line end
  key = keys[id + 1]
  n = #listings
  pos = id * math.floor(n / #keys)
  sent = 0
  idempotency = args[3] == "1"
  run = args[4]
  statuses = {}
end

function request()
  pos = pos % n + 1
  sent = sent + 1
  local body = '{"listing":"' .. listings[pos] .. '","amount_cents":' .. (100 + sent % 900) .. '}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Api-Key " .. key}
  if idempotency then headers["Idempotency-Key"] = run .. "-" .. id .. "-" .. sent end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do io.write(string.format("STATUS %d %d\n", status, count)) end
  end
end
"""


def run_wrk(
    port: int, piece: Slice, keys: list[str], listings_file: Path, workdir: Path, idempotency: bool
) -> None:
    keys_file = workdir / f"keys-{uuid.uuid4().hex[:6]}.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    script = workdir / "bids.lua"
    script.write_text(WRK_SCRIPT)
    output = subprocess.run(
        [
            "wrk",
            f"-t{len(keys)}",
            f"-c{len(keys)}",
            f"-d{piece.seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{piece.path}",
            "--",
            str(keys_file),
            str(listings_file),
            "1" if idempotency and piece.path == BIDS_PATH else "0",
            uuid.uuid4().hex[:8],
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["RESULT"]:
            requests, p50_us, p99_us, socket_errors, _status_errors = map(int, parts[1:])
            piece.requests, piece.p50_ms, piece.p99_ms = requests, p50_us / 1000, p99_us / 1000
            piece.socket_errors = socket_errors
        elif parts[:1] == ["STATUS"]:
            status, count = int(parts[1]), int(parts[2])
            piece.statuses[status] = piece.statuses.get(status, 0) + count


def run_python(port: int, piece: Slice, keys: list[str], listings: list[str], idempotency: bool) -> None:
    stop_at = time.monotonic() + piece.seconds
    lock = threading.Lock()
    run = uuid.uuid4().hex[:8]

    def client(number: int, key: str) -> None:
        position = number * (len(listings) // len(keys))
        sent = 0
        latencies, statuses = [], {}
        while time.monotonic() < stop_at:
            position = (position + 1) % len(listings)
            sent += 1
            body = {"listing": listings[position], "amount_cents": FLOOR_CENTS + sent % 900}
            idem = f"{run}-{number}-{sent}" if idempotency and piece.path == BIDS_PATH else None
            started = time.perf_counter()
            status, _ = call(port, "POST", piece.path, key, body, idem)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
        with lock:
            piece.latencies_ms += latencies
            for status, count in statuses.items():
                piece.statuses[status] = piece.statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(n, k)) for n, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    piece.requests = len(piece.latencies_ms)
    ordered = sorted(piece.latencies_ms)
    if ordered:
        piece.p50_ms = ordered[len(ordered) // 2]
        piece.p99_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def cpu_ms(seconds: float, piece: Slice) -> float:
    return 1000 * seconds / max(piece.requests, 1)


def p99_of(pieces: list[Slice]) -> float:
    latencies = sorted(x for p in pieces for x in p.latencies_ms)
    if latencies:  # the Python client keeps every latency: exact
        return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return max(p.p99_ms for p in pieces)  # wrk: the worst slice


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="per endpoint, split into slices")
    parser.add_argument("--slices", type=int, default=6, help="alternating slices per endpoint")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--idempotency-key", dest="idempotency", action="store_true", help="send one with every bid"
    )
    parser.add_argument("--keep", action="store_true", help="reuse the seed database if it matches")
    parser.add_argument("--profile", action="store_true", help="py-spy record the workers (needs py-spy)")
    args = parser.parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"

    cfg = pg.db_config(DEFAULT_URL)
    name = cfg["NAME"]
    seed = f"{name}_seed"
    pg.configure_django(cfg)
    admin = pg.connect(cfg)
    if not args.keep or seed_listings(cfg, seed) != args.listings:
        build_seed(cfg, admin, seed, args.listings)
    else:
        print(f"seed: reusing {seed} ({args.listings} listings)", flush=True)
    pg.use_database("postgres")
    prepare_clone(cfg, admin, name, seed)
    pg.use_database(name)

    from django.db import connection

    from listings.models import Listing

    listings = [str(u) for u in Listing.objects.order_by("pk").values_list("public_id", flat=True)]
    slice_seconds = args.seconds / args.slices
    # fresh organisations for every bid slice (and the warm-up): one bid per organisation and listing
    key_sets = [create_buyers(args.clients) for _ in range(args.slices + 1)]
    # What autovacuum does in production (it is off on these machines' PostgreSQL): statistics
    # that count the new organisations and keys.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_buyerorganisation, accounts_apikey")
    connection.close()

    workdir = Path(tempfile.mkdtemp(prefix="bench-bids-"))
    listings_file = workdir / "listings.txt"
    listings_file.write_text("\n".join(listings) + "\n")
    port = free_port()
    server = start_gunicorn(
        "bench.bids_settings",
        {"BENCH_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL), "BENCH_DB_NAME": name},
        port,
        args.workers,
    )
    profiler = None
    try:
        warm_keys = key_sets[0]
        for n in range(4 * args.workers):  # import everything and connect every worker
            key = warm_keys[n % len(warm_keys)]
            status, body = call(
                port, "POST", BIDS_PATH, key, {"listing": listings[-1 - n], "amount_cents": FLOOR_CENTS}
            )
            assert status == 201, (status, body)
            status, body = call(
                port, "POST", BARE_PATH, key, {"listing": listings[n], "amount_cents": FLOOR_CENTS}
            )
            assert status == 201, (status, body)
        warm_bids = 4 * args.workers
        worker_pids = children(server.pid)
        backend_pids = [pid for (pid,) in pg.query(admin, BACKENDS_SQL, [name])]
        if args.profile:
            (ROOT / "bench" / "out").mkdir(exist_ok=True)
            profiler = [
                subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--output",
                        str(ROOT / "bench" / "out" / f"bids_worker_{pid}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid in worker_pids
            ]
        print(
            f"load: {client}, {args.clients} clients, {args.slices} x ({slice_seconds:g}s bids, "
            f"{slice_seconds:g}s bare), gunicorn {args.workers} sync workers on :{port}, "
            f"Idempotency-Key {'on' if args.idempotency else 'off'}",
            flush=True,
        )
        bids, bare = [], []
        for number in range(args.slices):
            for path, pieces in ((BIDS_PATH, bids), (BARE_PATH, bare)):
                piece = Slice(path, slice_seconds)
                keys = key_sets[number + 1]
                app_before, db_before = cpu_seconds(worker_pids), cpu_seconds(backend_pids)
                if client == "wrk":
                    run_wrk(port, piece, keys, listings_file, workdir, args.idempotency)
                else:
                    run_python(port, piece, keys, listings, args.idempotency)
                piece.app_cpu_s = cpu_seconds(worker_pids) - app_before
                piece.db_cpu_s = cpu_seconds(backend_pids) - db_before
                pieces.append(piece)
                print(
                    f"  {path:<20} {piece.requests / piece.seconds:8.1f} req/s  p50 {piece.p50_ms:6.1f} ms  "
                    f"p99 {piece.p99_ms:6.1f} ms  cpu/req app {cpu_ms(piece.app_cpu_s, piece):4.1f} ms "
                    f"db {cpu_ms(piece.db_cpu_s, piece):4.1f} ms  statuses {dict(sorted(piece.statuses.items()))}"
                    + (f"  socket errors {piece.socket_errors}" if piece.socket_errors else ""),
                    flush=True,
                )
    finally:
        if profiler:
            for process in profiler:
                process.send_signal(signal.SIGINT)
            for process in profiler:
                process.wait(timeout=60)
        stop(server)
        shutil.rmtree(workdir, ignore_errors=True)

    created_bids = sum(p.created for p in bids)
    created_bare = sum(p.created for p in bare)
    conn = pg.connect(cfg, name)
    try:
        ((db_bids,),) = pg.query(conn, "SELECT count(*) FROM marketplace_bid WHERE status = 'open'")
        ((db_bare,),) = pg.query(conn, "SELECT count(*) FROM bench_bare_bid WHERE status = 'open'")
    finally:
        conn.close()
    # wrk stops reading when a slice ends: each client may leave one request the server completes
    in_flight = args.clients * args.slices
    for stored, answered, what in ((db_bids, created_bids, "bids"), (db_bare, created_bare, "bare rows")):
        if not 0 <= stored - answered - warm_bids <= in_flight:
            raise SystemExit(
                f"verification failed: {stored} {what} stored for {answered} answered 201 (+{warm_bids} warm-up)"
            )
    refused = {s: c for p in bids for s, c in p.statuses.items() if s != 201}
    print(
        f"verified: {db_bids - warm_bids} bids and {db_bare - warm_bids} bare rows stored for {created_bids} and "
        f"{created_bare} answered 201 (the rest completed after their slice ended); "
        f"bids not created: {refused or 'none'}",
        flush=True,
    )
    admin.close()

    bid_cpu = sum(p.app_cpu_s + p.db_cpu_s for p in bids) / max(sum(p.requests for p in bids), 1)
    bare_cpu = sum(p.app_cpu_s + p.db_cpu_s for p in bare) / max(sum(p.requests for p in bare), 1)
    if bid_cpu and bare_cpu:  # steadier than wall clock on a shared machine
        print(
            f"cpu_ms_per_bid={1000 * bid_cpu:.2f} cpu_ms_per_bare={1000 * bare_cpu:.2f} "
            f"cpu_ratio={bare_cpu / bid_cpu:.2f} (workers + their PostgreSQL backends)",
            flush=True,
        )
    total = sum(p.seconds for p in bids)
    bids_per_s = created_bids / total
    bare_per_s = created_bare / sum(p.seconds for p in bare)
    print(
        f"bids_per_s={bids_per_s:.0f} p99_ms={p99_of(bids):.1f} bare_per_s={bare_per_s:.0f} "
        f"ratio={bids_per_s / bare_per_s:.2f}"
    )


if __name__ == "__main__":
    main()
