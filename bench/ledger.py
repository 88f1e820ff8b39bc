"""Benchmark the ledger (`make bench-ledger`): balanced transactions posted through
`payments.ledger.ledger_post` against the same rows inserted into copies of the tables that have
no constraints, indexes or triggers, in the same run.

Each posting is one settlement: Dr the platform's Stripe balance, Cr platform fees, Cr one of
1,000 sellers' payables (prices and fee from payments.money), one database transaction each on
both sides, so both pay the same commits. The ledger side also pays what makes it trustworthy:
the unique idempotency key, the (account, currency) foreign key, the append-only triggers and the
deferred balance check at commit.

The last line printed is always:
    ledger_tx_per_s=<int> bare_tx_per_s=<int> ratio=<2 decimals>
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtier_bench_ledger")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

from bench import pg  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--sellers", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed postings before ANALYZE")
    args = parser.parse_args()

    pg.recreate_database(pg.db_config(BENCH_DB))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from payments import ledger, money
    from payments.models import LedgerAccount

    User.objects.bulk_create(
        User(email=f"seller{i}@bench.test", password="!", role=User.Role.SELLER) for i in range(args.sellers)
    )
    sellers = list(User.objects.order_by("pk").values_list("pk", flat=True))
    cash = ledger.ledger_account(LedgerAccount.Purpose.STRIPE_BALANCE)
    fees = ledger.ledger_account(LedgerAccount.Purpose.PLATFORM_FEES)
    payables = [ledger.ledger_account(LedgerAccount.Purpose.SELLER_PAYABLE, seller_id=s) for s in sellers]
    rng = random.Random(2026)
    postings = []
    for i in range(args.transactions):
        price = rng.randint(50, 50_000)
        split = money.fee_split(price, 1500)
        postings.append((i, price, split.fee, split.seller_share, payables[i % len(payables)]))
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE bare_tx (LIKE payments_ledgertransaction)")  # no constraints, no indexes
        cur.execute("CREATE TABLE bare_entry (LIKE payments_ledgerentry)")
        cur.execute("CREATE SEQUENCE bare_tx_id")
        cur.execute("ANALYZE")
    print(f"{args.transactions} settlements of 3 entries over {len(payables)} seller accounts", flush=True)

    def post_ledger(chunk) -> None:
        for i, price, fee, share, payable in chunk:
            ledger.ledger_post(
                kind="settlement",
                reference=f"bench:{i}",
                idempotency_key=f"bench:{i}:settlement",
                lines=[ledger.Line(cash, price), ledger.Line(fees, -fee), ledger.Line(payable, -share)],
            )

    def post_bare(chunk) -> None:
        with connection.cursor() as cur:
            for i, price, fee, share, payable in chunk:
                with transaction.atomic():
                    cur.execute(
                        "INSERT INTO bare_tx (id, kind, reference, idempotency_key, memo, created_at)"
                        " VALUES (nextval('bare_tx_id'), 'settlement', %s, %s, '', now()) RETURNING id",
                        [f"bench:{i}", f"bench:{i}:settlement"],
                    )
                    (tx_id,) = cur.fetchone()
                    cur.execute(
                        "INSERT INTO bare_entry (id, transaction_id, account_id, amount, currency) VALUES"
                        " (nextval('bare_tx_id'), %s, %s, %s, 'EUR'), (nextval('bare_tx_id'), %s, %s, %s, 'EUR'),"
                        " (nextval('bare_tx_id'), %s, %s, %s, 'EUR')",
                        [tx_id, cash.pk, price, tx_id, fees.pk, -fee, tx_id, payable.pk, -share],
                    )

    # Warm-up, not timed: a production ledger has statistics (autovacuum analyses a table within
    # a minute of its first few thousand rows). Without them the plans that PostgreSQL caches per
    # connection for the foreign-key checks and the balance trigger, made while the tables were
    # empty, stay sequential scans, and the ledger's side slows down linearly with its size.
    warmup = [(-1 - i, *rest) for i, (_n, *rest) in enumerate(postings[: args.warmup])]
    post_ledger(warmup)
    post_bare(warmup)
    connection.close()  # a new connection: new cached plans, made with the statistics
    with connection.cursor() as cur:
        cur.execute("ANALYZE")

    # Interleaved slices, so that both sides see the same machine (other work on a shared host
    # moves absolute figures a lot; the ratio stays put).
    ledger_s = bare_s = 0.0
    slice_size = 1_000
    for start in range(0, len(postings), slice_size):
        chunk = postings[start : start + slice_size]
        began = time.perf_counter()
        post_ledger(chunk)
        ledger_s += time.perf_counter() - began
        began = time.perf_counter()
        post_bare(chunk)
        bare_s += time.perf_counter() - began
    print(f"ledger_post: {ledger_s:.1f} s; bare inserts: {bare_s:.1f} s", flush=True)

    assert ledger.unbalanced_transactions() == []
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM payments_ledgertransaction")
        (posted,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM bare_tx")
        (bare,) = cur.fetchone()
    assert posted == bare == args.transactions + len(warmup)
    ledger_rate, bare_rate = args.transactions / ledger_s, args.transactions / bare_s
    print(
        f"ledger_tx_per_s={ledger_rate:.0f} bare_tx_per_s={bare_rate:.0f} ratio={ledger_rate / bare_rate:.2f}"
    )


if __name__ == "__main__":
    main()
