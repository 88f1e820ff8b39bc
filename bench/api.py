"""Benchmark the buyer API's five busiest operations over HTTP against a bare DRF endpoint
(`make bench-api`).

gunicorn (2 sync workers, persistent PostgreSQL connections, DEBUG off; bench/api_settings.py:
the cache and the rate limiters on Redis, every limit far above the load) serves the real site on
a loopback port. 16 concurrent clients, each a verified organisation with its own API key (every
scope), run each operation for 20 s:

    listings   GET  /api/v1/listings/ (five filters and orderings in turn)
    segments   POST /api/v1/segments/size/ (six briefs in turn)
    bids       POST /api/v1/bids/ (sealed bids; fresh organisations every slice, as bench/bids.py)
    records    GET  /api/v1/trades/{id}/records/ (the client's own settled trades in turn)
    notices    GET  /api/v1/deletion-notices/ (first page, all and ?status=sent)

and, alternating with each in 5 s slices (4 x 5 s each) so that both see the same machine, the
same requests (method and body) sent to /bench/bare/: DRF with the API's default
authentication, permission and throttles, no query beyond authentication (bench/bids_urls.py).
Each operation's ratio is its throughput over the bare endpoint's measured alongside it.

Data: a database of its own (BENCH_DATABASE_URL, default courtier_bench_api) cloned from
`<name>_seed`, built once (`--keep` reuses it): set-based SQL for the sellers (varied profiles,
consent, a wrapped data key and encrypted birth date and postcode each) and their listings
(auction, with two earlier withdrawn bids each; fixed price for the sellers whose data is
bought), then, through the services, the readers' buy-now bids, their trades delivered and
settled (payment skipped, as the tests' `deliver` fixture does) and some refunded, which revokes
their grants and sends deletion notices. After the run the bench checks that the database holds
one bid per 201 and one access-log row per record read.

p50 and p99 are exact over each operation's 4 slices (wrk's histograms are merged). The last
line printed is always:
    worst_op=<op> worst_p99_ms=<1 decimal> bare_p99_ms=<1 decimal> worst_ratio=<2 decimals>
worst_op has the lowest throughput ratio (worst_ratio); worst_p99_ms is the highest p99 of any
operation, bare_p99_ms the bare endpoint's p99 over the whole run. Goals: worst_ratio >= 0.4 and
worst_p99_ms <= 3 x bare_p99_ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # its master key wraps the seed's data keys
os.environ["CELERY_BROKER_URL"] = "memory://localhost/"  # buy-now bids in the seed queue settlement: nowhere

import psycopg2  # noqa: E402

from bench import pg  # noqa: E402
from bench.bids import HISTORY_BUYERS, create_buyers, paying_organisation, prepare_clone  # noqa: E402
from bench.server import BACKENDS_SQL, call, children, cpu_seconds, free_port, start_gunicorn, stop  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/courtier_bench_api"
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/11")
BARE_PATH = "/bench/bare/"
FLOOR_CENTS = 100
SEED_VERSION = 1
OPS = ("listings", "segments", "bids", "records", "notices")
EXPECTED = {"listings": 200, "segments": 200, "bids": 201, "records": 200, "notices": 200}
LISTING_QUERIES = (
    "",
    "?ordering=price",
    "?region=FR-IDF",
    "?category=location&pricing_mode=auction",
    "?page_size=20",
)
BRIEFS = (
    {"categories": ["demographics"], "purpose": "targeted_advertising"},
    {
        "categories": ["demographics", "location"],
        "purpose": "targeted_advertising",
        "regions": ["FR-IDF", "FR-ARA"],
    },
    {
        "categories": ["demographics"],
        "purpose": "targeted_advertising",
        "age_bands": ["25-34", "35-44"],
        "genders": ["female"],
    },
    {"categories": ["location"], "purpose": "targeted_advertising", "mobile_os": ["ios"]},
    {
        "categories": ["demographics", "location"],
        "purpose": "targeted_advertising",
        "regions": ["FR-IDF"],
        "mobile_operators": ["orange", "sfr"],
    },
    {"categories": ["demographics"], "purpose": "targeted_advertising", "interests": ["travel", "sports"]},
)

# ---------------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------------

SEED_SQL = """
INSERT INTO accounts_user (password, last_login, is_superuser, email, full_name, role, pseudonym,
                           preferred_language, email_verified_at, phone_verified_at, erased_at,
                           is_active, is_staff, date_joined, organisation_id, organisation_role)
SELECT '!', NULL, false, 'bench-api-seller-' || n || '@bench.invalid', '', 'seller',
       gen_random_uuid(), 'en', now(), now(), NULL, true, false, now(), NULL, ''
FROM generate_series(1, %(sellers)s) AS n;

INSERT INTO accounts_consentgrant (seller_id, category, purpose, window_days, granted_at, expires_at,
                                   ended_at, status, renewed_from_id, reminder_sent_at)
SELECT u.id, c.category, 'targeted_advertising', 365, now() - interval '1 day',
       now() + interval '364 days', NULL, 'active', NULL, NULL
FROM accounts_user u CROSS JOIN (VALUES ('demographics'), ('location')) AS c(category);

INSERT INTO accounts_sellerprofile (seller_id, age_band, gender, region, mobile_os, mobile_operator,
                                    interests_mask, affinities_mask, audience_optin_mask, sellable_mask,
                                    sellable_until, birth_date_encrypted, postcode_encrypted,
                                    phone_encrypted, updated_at)
SELECT u.id,
       (ARRAY['18-24', '25-34', '35-44', '45-54', '55-64', '65+'])[1 + u.id %% 6],
       (ARRAY['female', 'male', 'female', 'male', 'non_binary', 'undisclosed'])[1 + (u.id / 6) %% 6],
       (ARRAY['FR-IDF', 'FR-IDF', 'FR-ARA', 'FR-HDF', 'FR-BRE', 'FR-GES', 'FR-BFC', 'FR-CVL'])[1 + (u.id * 7) %% 8],
       (ARRAY['android', 'android', 'android', 'ios'])[1 + (u.id / 3) %% 4],
       (ARRAY['orange', 'sfr', 'bouygues', 'free', 'mvno'])[1 + (u.id / 5) %% 5],
       (1::bigint << (u.id %% 24)::int) | (1::bigint << ((u.id / 24) %% 24)::int),
       1::bigint << ((u.id / 7) %% 14)::int, 0, %(sellable_mask)s, now() + interval '364 days',
       NULL, NULL, NULL, now()
FROM accounts_user u;

INSERT INTO listings_listing (public_id, seller_id, categories_mask, purposes_mask, licence_days,
                              pricing_mode, floor_price_cents, currency, auction_ends_at, status,
                              status_reason, suggested_price_cents, created_at, updated_at)
SELECT gen_random_uuid(), u.id, 3, 1, 30,
       CASE WHEN u.id <= %(traded)s THEN 'fixed' ELSE 'auction' END, %(floor)s + u.id %% 400, 'EUR',
       CASE WHEN u.id <= %(traded)s THEN NULL ELSE now() + interval '1 day' END,
       'active', '', NULL, now() - u.id * interval '1 second', now()
FROM accounts_user u ORDER BY u.id;

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
    SELECT gen_random_uuid(), 'auction', l.floor_price_cents + o.n, 'EUR', now() - interval '1 day',
           'targeted_advertising', 30, 'cancelled', '', now() - interval '1 day', l.id, o.id
    FROM listings_listing l
    CROSS JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM accounts_buyerorganisation) o
    WHERE l.pricing_mode = 'auction'
    RETURNING id, amount_cents, created_at
)
INSERT INTO marketplace_bidevent (bid_id, from_status, to_status, amount_cents, reason, occurred_at)
SELECT id, '', 'open', amount_cents, '', created_at FROM bids;
"""


def seed_matches(cfg: dict, seed: str, shape: dict) -> bool:
    try:
        conn = pg.connect(cfg, seed)
    except psycopg2.OperationalError:
        return False
    try:
        if not pg.query(conn, "SELECT to_regclass('bench_api_meta') IS NOT NULL")[0][0]:
            return False
        return pg.query(conn, "SELECT shape FROM bench_api_meta")[0][0] == shape
    finally:
        conn.close()


def _data_keys(conn) -> None:
    """A data key per seller, wrapped by the master key, and their encrypted birth date and
    postcode, as seller_create and seller_profile_update leave them."""
    from psycopg2.extras import execute_values

    from accounts import crypto

    rows = []
    for (seller_id,) in pg.query(conn, "SELECT id FROM accounts_user WHERE role = 'seller' ORDER BY id"):
        wrapped = crypto.new_wrapped_data_key()
        fernet = crypto.data_fernet(wrapped)
        birth = f"{1950 + seller_id % 50}-{1 + seller_id % 12:02d}-{1 + seller_id % 28:02d}"
        postcode = f"{75001 + seller_id % 20}"
        rows.append((seller_id, wrapped, crypto.encrypt(fernet, birth), crypto.encrypt(fernet, postcode)))
    with conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO accounts_sellerdatakey (seller_id, wrapped_key, created_at) "
            "SELECT v.seller_id, v.wrapped, now() FROM (VALUES %s) AS v(seller_id, wrapped, birth, postcode)",
            rows,
            page_size=2000,
        )
        execute_values(
            cur,
            "UPDATE accounts_sellerprofile p SET birth_date_encrypted = v.birth, postcode_encrypted = v.postcode "
            "FROM (VALUES %s) AS v(seller_id, wrapped, birth, postcode) WHERE p.seller_id = v.seller_id",
            rows,
            page_size=2000,
        )


def _readers_trade(readers: int, trades: int, notices: int) -> None:
    """Each reader buys `trades + notices` fixed-price listings now (services.bid_place); every
    trade is delivered and settled (payment skipped) and the last `notices` of each reader's are
    refunded, which revokes their grants and sends one deletion notice each."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from listings import lock_objects as listing_locks
    from listings import services as listing_services
    from listings.models import Listing
    from marketplace import lock_objects, services
    from marketplace.models import AccessGrant, Trade, TradeLine

    fixed = list(
        Listing.objects.filter(pricing_mode=Listing.PricingMode.FIXED)
        .order_by("pk")
        .values_list("public_id", flat=True)
    )
    per_reader = trades + notices
    assert len(fixed) == readers * per_reader, (len(fixed), readers, per_reader)
    refunded: list[int] = []
    for r in range(readers):
        organisation = paying_organisation(f"Bench reader {r}", f"reader-{r}")
        for n, public_id in enumerate(fixed[r * per_reader : (r + 1) * per_reader]):
            bid = services.bid_place(organisation=organisation, listing_public_id=public_id)
            if n >= trades:
                refunded.append(bid.pk)
    with transaction.atomic(durable=True):  # settlement's delivery and capture, in its lock order
        held = listing_locks.listings(Listing.objects.filter(status=Listing.Status.HELD))
        all_trades = lock_objects.trades(Trade.objects.filter(status=Trade.Status.PENDING_PAYMENT))
        lines = lock_objects.trade_lines(TradeLine.objects.filter(trade__in=all_trades))
        by_pk = {t.pk: t for t in all_trades}
        services.trades_transition(all_trades, Trade.Status.PAID, "bench seed: payment skipped")
        now = timezone.now()
        AccessGrant.objects.bulk_create(
            AccessGrant(
                organisation_id=by_pk[line.trade_id].organisation_id,
                seller_id=line.seller_id,
                trade_line=line,
                categories_mask=line.categories_mask,
                purpose=by_pk[line.trade_id].purpose,
                starts_at=now,
                ends_at=now + timedelta(days=by_pk[line.trade_id].licence_days),
            )
            for line in lines
        )
        services.trade_lines_transition(lines, TradeLine.Status.DELIVERED)
        services.trades_transition(all_trades, Trade.Status.DELIVERED, "access granted for 1 records")
        listing_services.listings_sold_locked([listing.pk for listing in held], reason="trade settled")
        services.trades_transition(all_trades, Trade.Status.SETTLED, "bench seed: payment skipped")
    with transaction.atomic(durable=True):  # refunds: settlement's _end_access
        back = lock_objects.trades(Trade.objects.filter(bid_id__in=refunded))
        services.trades_transition(back, Trade.Status.REFUNDED, "refunded")
        grants = lock_objects.access_grants(AccessGrant.objects.filter(trade_line__trade__in=back))
        services.access_revoke(grants, reason="refunded", notice_reason="refunded")


def build_seed(cfg: dict, admin, seed: str, shape: dict) -> None:
    from django.core.management import call_command

    from accounts import taxonomy

    t0 = time.perf_counter()
    pg.drop_database(admin, seed)
    pg.create_database(admin, seed)
    pg.use_database(seed)
    call_command("migrate", interactive=False, verbosity=0)
    conn = pg.connect(cfg, seed)
    try:
        traded = shape["readers"] * (shape["trades"] + shape["notices"])
        sellable = taxonomy.pairs_mask(["demographics", "location"], ["targeted_advertising"])
        pg.query(
            conn,
            SEED_SQL,
            {
                "sellers": shape["sellers"],
                "traded": traded,
                "floor": FLOOR_CENTS,
                "sellable_mask": sellable,
                "history_buyers": HISTORY_BUYERS,
            },
        )
        _data_keys(conn)
        pg.query(conn, "ANALYZE")
        _readers_trade(shape["readers"], shape["trades"], shape["notices"])
        pg.use_database("postgres")
        pg.query(conn, "CREATE TABLE bench_api_meta (shape jsonb NOT NULL)")
        pg.query(conn, "INSERT INTO bench_api_meta VALUES (%s)", [json.dumps(shape)])
        pg.query(conn, "VACUUM ANALYZE")
    finally:
        conn.close()
    print(f"seed: {shape} in {seed} ({time.perf_counter() - t0:.1f}s)", flush=True)


# ---------------------------------------------------------------------------------------------
# Requests: one file per operation, a line per request: client (or *), method, path, body
# ---------------------------------------------------------------------------------------------


def request_lines(op: str, clients: int) -> list[str]:
    from listings.models import Listing
    from marketplace.models import Trade

    if op == "listings":
        return [f"*\tGET\t/api/v1/listings/{q}\t" for q in LISTING_QUERIES]
    if op == "segments":
        return [f"*\tPOST\t/api/v1/segments/size/\t{json.dumps(b)}" for b in BRIEFS]
    if op == "notices":
        return ["*\tGET\t/api/v1/deletion-notices/\t", "*\tGET\t/api/v1/deletion-notices/?status=sent\t"]
    if op == "bids":
        auctions = Listing.objects.filter(
            pricing_mode=Listing.PricingMode.AUCTION, status=Listing.Status.ACTIVE
        )
        return [
            "*\tPOST\t/api/v1/bids/\t"
            + json.dumps({"listing": str(public_id), "amount_cents": FLOOR_CENTS + 400 + n % 900})
            for n, public_id in enumerate(auctions.order_by("pk").values_list("public_id", flat=True))
        ]
    assert op == "records"
    lines = []
    for client in range(clients):
        trades = Trade.objects.filter(
            organisation__registration_number=f"bench-reader-{client}", status=Trade.Status.SETTLED
        ).order_by("pk")
        lines += [
            f"{client}\tGET\t/api/v1/trades/{t}/records/\t"
            for t in trades.values_list("public_id", flat=True)
        ]
    return lines


def reader_keys(clients: int) -> list[str]:
    from accounts import services
    from accounts.models import BuyerOrganisation

    return [
        services.api_key_create(
            organisation=BuyerOrganisation.objects.get(registration_number=f"bench-reader-{n}"), name="bench"
        )[1]
        for n in range(clients)
    ]


# ---------------------------------------------------------------------------------------------
# Load generators: one slice = the clients on one file of requests for `seconds`
# ---------------------------------------------------------------------------------------------


@dataclass
class Slice:
    op: str
    bare: bool
    seconds: float
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    histogram: dict[int, int] = field(default_factory=dict)  # latency (µs) -> requests
    socket_errors: int = 0
    app_cpu_s: float = 0.0
    db_cpu_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200 if self.bare else EXPECTED[self.op], 0)


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
  key = keys[id % #keys + 1]
  reqs = {}
  for line in io.lines(args[2]) do
    local who, method, path, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if who == "*" or tonumber(who) == id then reqs[#reqs + 1] = {method, path, body} end
  end
  override = args[3]
  n = #reqs
  pos = (id * math.floor(n / #keys)) % n
  statuses = {}
end

function request()
  pos = pos % n + 1
  local r = reqs[pos]
  local path = r[2]
  if override ~= "-" then path = override end
  local headers = {["Authorization"] = "Api-Key " .. key}
  local body = nil
  if r[3] ~= "" then
    headers["Content-Type"] = "application/json"
    body = r[3]
  end
  return wrk.format(r[1], path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d\n", summary.requests, e.connect + e.read + e.write + e.timeout))
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do io.write(string.format("STATUS %d %d\n", status, count)) end
  end
  for i = 1, #latency do
    local value, count = latency(i)
    io.write(string.format("HIST %d %d\n", value, count))
  end
end
"""


def run_wrk(
    port: int, piece: Slice, keys_file: Path, requests_file: Path, script: Path, clients: int
) -> None:
    output = subprocess.run(
        [
            "wrk",
            f"-t{clients}",
            f"-c{clients}",
            f"-d{piece.seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
            "--",
            str(keys_file),
            str(requests_file),
            BARE_PATH if piece.bare else "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["RESULT"]:
            piece.requests, piece.socket_errors = int(parts[1]), int(parts[2])
        elif parts[:1] in (["STATUS"], ["HIST"]):
            into = piece.statuses if parts[0] == "STATUS" else piece.histogram
            into[int(parts[1])] = into.get(int(parts[1]), 0) + int(parts[2])


def run_python(port: int, piece: Slice, keys: list[str], lines: list[str]) -> None:
    stop_at = time.monotonic() + piece.seconds
    lock = threading.Lock()
    parsed = [line.split("\t", 3) for line in lines]

    def client(number: int, key: str) -> None:
        mine = [p for p in parsed if p[0] in ("*", str(number))]
        position = number * (len(mine) // len(keys))
        while time.monotonic() < stop_at:
            position = (position + 1) % len(mine)
            _who, method, path, body = mine[position]
            started = time.perf_counter()
            status, _ = call(
                port, method, BARE_PATH if piece.bare else path, key, json.loads(body) if body else None
            )
            micros = int((time.perf_counter() - started) * 1e6)
            with lock:
                piece.requests += 1
                piece.statuses[status] = piece.statuses.get(status, 0) + 1
                piece.histogram[micros] = piece.histogram.get(micros, 0) + 1

    threads = [threading.Thread(target=client, args=(n, k)) for n, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def percentile_ms(pieces: list[Slice], q: float) -> float:
    merged: dict[int, int] = {}
    for piece in pieces:
        for micros, count in piece.histogram.items():
            merged[micros] = merged.get(micros, 0) + count
    total, seen = sum(merged.values()), 0
    for micros in sorted(merged):
        seen += merged[micros]
        if seen >= q * total:
            return micros / 1000
    return 0.0


@dataclass
class Result:
    op: str
    pieces: list[Slice]
    bare: list[Slice]

    def rate(self, bare: bool = False) -> float:
        pieces = self.bare if bare else self.pieces
        return sum(p.ok for p in pieces) / sum(p.seconds for p in pieces)

    @property
    def ratio(self) -> float:
        return self.rate() / max(self.rate(bare=True), 1e-9)

    def line(self) -> str:
        statuses: dict[int, int] = {}
        for p in self.pieces:
            for s, c in p.statuses.items():
                statuses[s] = statuses.get(s, 0) + c
        cpu = sum(p.app_cpu_s + p.db_cpu_s for p in self.pieces) / max(
            sum(p.requests for p in self.pieces), 1
        )
        bare_cpu = sum(p.app_cpu_s + p.db_cpu_s for p in self.bare) / max(
            sum(p.requests for p in self.bare), 1
        )
        errors = sum(p.socket_errors for p in self.pieces + self.bare)
        return (
            f"{self.op:<9} {self.rate():7.1f} req/s  p50 {percentile_ms(self.pieces, 0.5):6.1f} ms  "
            f"p99 {percentile_ms(self.pieces, 0.99):6.1f} ms | bare {self.rate(bare=True):7.1f} req/s  "
            f"p99 {percentile_ms(self.bare, 0.99):6.1f} ms | ratio {self.ratio:.2f}  "
            f"cpu/req {1000 * cpu:.2f} ms (bare {1000 * bare_cpu:.2f})  statuses {dict(sorted(statuses.items()))}"
            + (f"  socket errors {errors}" if errors else "")
        )


# ---------------------------------------------------------------------------------------------


def warm_up(port: int, files: dict[str, list[str]], keys: dict[str, list[str]], workers: int) -> None:
    """Import everything and connect every worker; check each operation answers what it should."""
    for op in OPS:
        for n in range(4 * workers):
            lines = [line.split("\t", 3) for line in files[op] if line.split("\t", 1)[0] in ("*", "0")]
            _who, method, path, body = lines[-1 - n % len(lines)] if op == "bids" else lines[n % len(lines)]
            status, raw = call(port, method, path, keys[op][0], json.loads(body) if body else None)
            assert status == EXPECTED[op], (op, path, status, raw[:300])
            answer = json.loads(raw)
            if op == "segments":
                assert answer["count"] is not None, ("segment below K", body, answer)
            elif op == "records":
                (record,) = answer["results"]
                assert record["data"]["birth_date"] and record["data"]["postcode"], record  # decrypted
            elif op in ("listings", "notices"):
                assert answer["results"], (op, path, answer)
            status, raw = call(port, method, BARE_PATH, keys[op][0], json.loads(body) if body else None)
            assert status == 200, (BARE_PATH, status, raw[:300])


def flush_cache() -> None:
    import redis

    redis.Redis.from_url(CACHE_URL).flushdb()  # the limiter's counters of earlier runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sellers", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--trades", type=int, default=20, help="settled trades per reader (records)")
    parser.add_argument("--notices", type=int, default=60, help="deletion notices per reader")
    parser.add_argument("--seconds", type=float, default=5.0, help="per slice")
    parser.add_argument("--slices", type=int, default=4, help="alternating slices per operation (and bare)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated, of: " + ", ".join(OPS))
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--keep", action="store_true", help="reuse the seed database if it matches")
    args = parser.parse_args(argv)
    ops = [op for op in args.ops.split(",") if op]
    assert set(ops) <= set(OPS), ops
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")

    cfg = pg.db_config(DEFAULT_URL)
    name = cfg["NAME"]
    seed = f"{name}_seed"
    pg.configure_django(cfg)
    admin = pg.connect(cfg)
    shape = {
        "sellers": args.sellers,
        "readers": args.clients,
        "trades": args.trades,
        "notices": args.notices,
        "version": SEED_VERSION,
    }
    if not args.keep or not seed_matches(cfg, seed, shape):
        build_seed(cfg, admin, seed, shape)
    else:
        print(f"seed: reusing {seed} ({shape})", flush=True)
    pg.use_database("postgres")
    prepare_clone(cfg, admin, name, seed)
    pg.use_database(name)

    from django.db import connection

    files = {op: request_lines(op, args.clients) for op in OPS}
    readers = reader_keys(args.clients)
    # fresh organisations for every bid slice and the warm-up: one bid per organisation and listing
    bid_keys = [create_buyers(args.clients) for _ in range(args.slices + 1)]
    with connection.cursor() as cursor:  # what autovacuum would do (it is off on these machines)
        cursor.execute("ANALYZE accounts_buyerorganisation, accounts_apikey")
    connection.close()

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    script = workdir / "api.lua"
    script.write_text(WRK_SCRIPT)
    for op, lines in files.items():
        (workdir / f"{op}.txt").write_text("\n".join(lines) + "\n")
    for number, keys in enumerate([readers, *bid_keys]):
        (workdir / f"keys-{number}.txt").write_text("\n".join(keys) + "\n")
    flush_cache()
    port = free_port()
    server = start_gunicorn(
        "bench.api_settings",
        {
            "BENCH_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
            "BENCH_DB_NAME": name,
            "BENCH_CACHE_URL": CACHE_URL,
            "CELERY_BROKER_URL": "memory://localhost/",
        },
        port,
        args.workers,
    )
    results: list[Result] = []
    try:
        warm_up(port, files, {op: bid_keys[0] if op == "bids" else readers for op in OPS}, args.workers)
        conn = pg.connect(cfg, name)
        before = counts(conn)
        worker_pids = children(server.pid)
        backend_pids = [pid for (pid,) in pg.query(admin, BACKENDS_SQL, [name])]
        print(
            f"load: {client}, {args.clients} clients, per operation {args.slices} x ({args.seconds:g}s op, "
            f"{args.seconds:g}s bare), gunicorn {args.workers} sync workers on :{port}",
            flush=True,
        )
        for op in ops:
            result = Result(op, [], [])
            for number in range(args.slices):
                keys_number = number + 2 if op == "bids" else 0  # keys-1 warmed up the bids
                for bare in (False, True):
                    piece = Slice(op, bare, args.seconds)
                    app_before, db_before = cpu_seconds(worker_pids), cpu_seconds(backend_pids)
                    if client == "wrk":
                        run_wrk(
                            port,
                            piece,
                            workdir / f"keys-{keys_number}.txt",
                            workdir / f"{op}.txt",
                            script,
                            args.clients,
                        )
                    else:
                        keys = readers if keys_number == 0 else bid_keys[keys_number - 1]
                        run_python(port, piece, keys, files[op])
                    piece.app_cpu_s = cpu_seconds(worker_pids) - app_before
                    piece.db_cpu_s = cpu_seconds(backend_pids) - db_before
                    (result.bare if bare else result.pieces).append(piece)
            results.append(result)
            print("  " + result.line(), flush=True)
        after = counts(conn)
        conn.close()
    finally:
        stop(server)
        shutil.rmtree(workdir, ignore_errors=True)
    admin.close()
    verify(results, before, after, args.clients * args.slices)
    report(results)


def counts(conn) -> dict[str, int]:
    ((bids,),) = pg.query(conn, "SELECT count(*) FROM marketplace_bid WHERE status = 'open'")
    ((reads,),) = pg.query(conn, "SELECT count(*) FROM marketplace_accesslog")
    return {"bids": bids, "records": reads}


def verify(results: list[Result], before: dict[str, int], after: dict[str, int], in_flight: int) -> None:
    """One open bid per 201, one access-log row per record read (one record per trade); wrk stops
    reading when a slice ends, so each client may leave one request the server completes."""
    notes = []
    for result in results:
        if result.op not in before:
            continue
        stored, answered = after[result.op] - before[result.op], sum(p.ok for p in result.pieces)
        if not 0 <= stored - answered <= in_flight:
            raise SystemExit(f"verification failed: {stored} {result.op} stored for {answered} answered")
        notes.append(f"{stored} {result.op} stored for {answered} answered")
    unexpected: dict[str, dict[int, int]] = {}
    for result in results:
        for piece in result.pieces + result.bare:
            label = f"{result.op} bare" if piece.bare else result.op
            for status, count in piece.statuses.items():
                if status != (200 if piece.bare else EXPECTED[result.op]):
                    into = unexpected.setdefault(label, {})
                    into[status] = into.get(status, 0) + count
    print(f"verified: {'; '.join(notes) or 'nothing written'}; unexpected statuses: {unexpected or 'none'}")


def report(results: list[Result]) -> None:
    all_bare = [p for r in results for p in r.bare]
    worst = min(results, key=lambda r: r.ratio)
    slowest = max(results, key=lambda r: percentile_ms(r.pieces, 0.99))
    print(
        f"worst_op={worst.op} worst_p99_ms={percentile_ms(slowest.pieces, 0.99):.1f} "
        f"bare_p99_ms={percentile_ms(all_bare, 0.99):.1f} worst_ratio={worst.ratio:.2f}"
    )


if __name__ == "__main__":
    main()
