"""Benchmark audience segment sizing against hand-written SQL (`make bench-segments`).

Loads N synthetic sellers (accounts_user + accounts_sellerprofile, set-based SQL) with skewed,
realistic attribute distributions and derived consent columns (sellable_mask / sellable_until, as
`listings.services.audience_refresh` leaves them) into a database of its own, then sizes 20
segments of about five criteria each through `listings.selectors.segment_size` and counts the
same 20 segments with SQL written by hand against the same indexes, interleaved, in the same run.
It runs at 100,000 sellers, then at 1,000,000 (reloading the data), and prints how p50 grew.

The hand SQL is what an expert writes for PostgreSQL 15 against profile_audience_covering: the
key columns in index order and, where an unconstrained key column precedes a constrained one, the
column's every value listed (PostgreSQL < 18 has no skip scan; see skip_scan_fillers). The same
SQL without those lists ("plain") is timed too, to tell the SQL's shape from the ORM's cost.

No ConsentGrant rows are created: segment sizing reads only SellerProfile (sellable_mask and
sellable_until stand in for the consents behind them). Some sellers' sellable_until already lies
in the past (expired seconds to a day ago, not yet swept): they must not be counted, and the
bench checks that the selector and both hand queries agree on every count.

EXPLAIN (ANALYZE, BUFFERS) of every selector and hand query goes to bench/out/ (gitignored).
PostgreSQL settings (work_mem, parallel workers, JIT) are left at the server's defaults; whether
parallel workers ran is reported. Timings are wall-clock through the same Django connection, so
they include the load of anything else running on the machine (the load average is printed).

The last line printed is always (for the last size):
    sellers=<int> p50_ms=<2 decimals> p99_ms=<2 decimals> hand_sql_p50_ms=<2 decimals> ratio=<2 decimals>
ratio = selector p50 / hand SQL p50.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import psycopg2  # noqa: E402

from bench import pg  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/courtier_bench_segments"
OUT_DIR = ROOT / "bench" / "out"
DEFAULT_SIZES = (100_000, 1_000_000)

# ---------------------------------------------------------------------------------------------
# The bench database (bench/pg.py has the plumbing)
# ---------------------------------------------------------------------------------------------


def loaded_meta(cfg: dict, name: str) -> tuple[int, datetime] | None:
    """(sellers, loaded_at) of a database this bench loaded, else None."""
    try:
        conn = pg.connect(cfg, name)
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('bench_segments_meta') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT sellers, loaded_at FROM bench_segments_meta")
            row = cur.fetchone()
            return (row[0], row[1]) if row else None
    finally:
        conn.close()


def reconnect() -> None:
    from django.db import connection

    connection.close()
    connection.ensure_connection()


# ---------------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------------

# INSEE population 2023, millions (Île-de-France ~18%, Corse ~0.5%, overseas small); 1% never said.
REGION_WEIGHTS = {
    "FR-IDF": 12.3,
    "FR-ARA": 8.1,
    "FR-NAQ": 6.1,
    "FR-OCC": 6.1,
    "FR-HDF": 6.0,
    "FR-GES": 5.6,
    "FR-PAC": 5.1,
    "FR-PDL": 3.9,
    "FR-BRE": 3.4,
    "FR-NOR": 3.3,
    "FR-BFC": 2.8,
    "FR-CVL": 2.6,
    "FR-20R": 0.35,
    "FR-971": 0.38,
    "FR-972": 0.35,
    "FR-973": 0.29,
    "FR-974": 0.87,
    "FR-976": 0.31,
    "": 0.68,
}
# Smartphone-owning adults who would sell their data skew young.
# 2% never gave a birth date (incomplete profile).
AGE_WEIGHTS = {"18-24": 15.7, "25-34": 23.5, "35-44": 20.6, "45-54": 17.6, "55-64": 12.7, "65+": 7.9, "": 2}
GENDER_WEIGHTS = {"female": 47.5, "male": 48, "non_binary": 1, "undisclosed": 2.5, "": 1}
OS_WEIGHTS = {"android": 75, "ios": 24, "other": 1}
# Orange 35 / SFR 25 / Bouygues 20 / Free 15 / MVNO 5, and 3% who left it blank.
OPERATOR_WEIGHTS = {"orange": 34, "sfr": 24.25, "bouygues": 19.4, "free": 14.55, "mvno": 4.8, "": 3}
# Relative popularity: a seller's 2-6 interests (1-4 affinities) are drawn without replacement.
INTEREST_WEIGHTS = {
    "travel": 10,
    "cooking": 9,
    "music": 9,
    "cinema": 8,
    "sports": 7,
    "technology": 6,
    "fitness": 6,
    "fashion": 5,
    "books": 5,
    "gaming": 5,
    "beauty": 4,
    "health": 4,
    "home_garden": 4,
    "outdoors": 4,
    "pets": 3,
    "finance": 3,
    "diy": 3,
    "automotive": 3,
    "parenting": 3,
    "photography": 2,
    "education": 2,
    "real_estate": 2,
    "art": 2,
    "news_politics": 2,
}
AFFINITY_WEIGHTS = {
    "drama_series": 8,
    "comedy": 7,
    "news": 6,
    "sport_broadcasts": 6,
    "documentaries": 5,
    "podcasts": 5,
    "music_videos": 5,
    "reality_tv": 4,
    "true_crime": 4,
    "cooking_shows": 3,
    "tech_reviews": 3,
    "kids": 3,
    "anime": 2,
    "esports": 2,
}
# ~70% of sellers offer and consent to something: categories x purposes, each with its own odds.
SELLABLE_SHARE = 0.70
CATEGORY_ODDS = {
    "demographics": 0.85,
    "location": 0.70,
    "device": 0.55,
    "telecom": 0.35,
    "interests": 0.70,
    "content_affinity": 0.45,
    "life_events": 0.04,
}
PURPOSE_ODDS = {
    "targeted_advertising": 0.85,
    "ad_measurement": 0.50,
    "audience_measurement": 0.45,
    "market_research": 0.35,
    "product_development": 0.20,
    "personalised_content": 0.40,
}
EXPIRED_SHARE = 0.04  # of the sellable: expired 1 s to 1 day ago, not yet swept
MIN_FUTURE = timedelta(hours=1)  # future ends start an hour out: no row expires during the run


def weighted_case(column: str, weights: dict[str, float]) -> str:
    """CASE over a uniform random `column` picking each value with its weight's share."""
    total = sum(weights.values())
    items = list(weights.items())
    parts, cumulative = [], 0.0
    for value, weight in items[:-1]:
        cumulative += weight / total
        parts.append(f"WHEN {column} < {cumulative:.6f} THEN '{value}'")
    return f"CASE {' '.join(parts)} ELSE '{items[-1][0]}' END"


def odds_mask(odds: dict[str, float], vocabulary: tuple[str, ...]) -> str:
    """SQL for a bit mask over `vocabulary` with each bit set independently with its odds."""
    return " | ".join(
        f"(CASE WHEN random() < {p} THEN {1 << vocabulary.index(code)} ELSE 0 END)"
        for code, p in odds.items()
    )


def weighted_sample_mask(bits_param: str, weights_param: str, count_column: str) -> str:
    """Mask of `count_column` bits drawn without replacement, each likelier by its weight
    (Efraimidis-Spirakis: the smallest Exp(1)/w keys). Correlated, so drawn per row."""
    return (
        f"(SELECT bit_or(b) FROM (SELECT b FROM unnest({bits_param}::bigint[], {weights_param}::float8[]) "
        f"AS t(b, w) ORDER BY -ln(1.0 - random()) / w LIMIT {count_column}) picked)"
    )


def pair_mask_table() -> list[int]:
    """sellable_mask for every (category mask, purpose mask): index cm * 64 + pm, via pair_bit."""
    from accounts import taxonomy

    cats, purposes = taxonomy.CATEGORY_CODES, taxonomy.PURPOSE_CODES
    assert len(cats) <= 7 and len(purposes) <= 6, "widen the lookup table"
    table = []
    for cm in range(128):
        for pm in range(64):
            mask = 0
            for ci, category in enumerate(cats):
                for pi, purpose in enumerate(purposes):
                    if cm >> ci & 1 and pm >> pi & 1:
                        mask |= taxonomy.pair_bit(category, purpose)
            table.append(mask)
    return table


USERS_SQL = """
INSERT INTO accounts_user (password, last_login, is_superuser, email, full_name, role, pseudonym,
                           preferred_language, email_verified_at, phone_verified_at, erased_at,
                           is_active, is_staff, date_joined, organisation_id)
SELECT '!', NULL, false, 'bench-seller-' || n || '@bench.invalid', '', 'seller', gen_random_uuid(),
       (ARRAY['fr', 'en'])[1 + (random() < 0.2)::int], %(now)s, %(now)s, NULL, true, false,
       %(now)s - make_interval(days => floor(random() * 900)::int), NULL
FROM generate_series(1, %(sellers)s) AS n
"""

# Random draws per seller first (one uniform per attribute), then the profile row. Encrypted
# columns get Fernet-sized tokens (100 characters) so the heap is as wide as the real one.
PROFILES_SQL = """
WITH draws AS (
    SELECT u.id,
           random() AS r_region, random() AS r_age, random() AS r_gender, random() AS r_os,
           random() AS r_operator,
           2 + floor(random() * 5)::int AS n_interests,
           1 + floor(random() * 4)::int AS n_affinities,
           random() < %(sellable_share)s AS sellable,
           random() < %(expired_share)s AS expired,
           random() AS r_until,
           {category_odds} AS cm,
           {purpose_odds} AS pm
    FROM accounts_user u
    WHERE u.role = 'seller'
), profile AS (
    SELECT d.*,
           CASE WHEN d.sellable THEN CASE WHEN d.cm = 0 THEN 1 ELSE d.cm END ELSE 0 END AS offered,
           CASE WHEN d.pm = 0 THEN 1 ELSE d.pm END AS purposes
    FROM draws d
)
INSERT INTO accounts_sellerprofile (seller_id, age_band, gender, region, mobile_os, mobile_operator,
                                    interests_mask, affinities_mask, audience_optin_mask,
                                    sellable_mask, sellable_until, birth_date_encrypted,
                                    postcode_encrypted, phone_encrypted, updated_at)
SELECT p.id,
       {age}, {gender}, {region}, {os}, {operator},
       {interests}, {affinities},
       p.offered,
       (%(pair_masks)s::bigint[])[p.offered * 64 + p.purposes + 1],
       CASE WHEN NOT p.sellable THEN NULL
            WHEN p.expired THEN %(now)s::timestamptz - make_interval(secs => 1 + floor(p.r_until * 86399))
            ELSE %(now)s::timestamptz + %(min_future)s::interval
                 + make_interval(secs => floor(p.r_until * (365 * 86400 - %(min_future_s)s)))
       END,
       left('gAAAAAB' || repeat(md5(p.id || 'b'), 3), 100),
       left('gAAAAAB' || repeat(md5(p.id || 'p'), 3), 100),
       left('gAAAAAB' || repeat(md5(p.id || 't'), 3), 100),
       %(now)s::timestamptz - make_interval(secs => floor(p.r_until * 30 * 86400))
FROM profile p
"""


@contextmanager
def bulk_load(tables: tuple[str, ...]):
    """Load without per-row index maintenance or foreign-key triggers: drop every index and unique
    constraint but the primary keys, and rebuild them from their own definitions afterwards."""
    saved_constraints, saved_indexes = [], []
    for table in tables:
        constraints = pg.fetchall(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype = 'u'",
            [table],
        )
        indexes = pg.fetchall(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))",
            [table],
        )
        for name, _definition in constraints:
            pg.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            pg.execute(f'DROP INDEX "{name}"')
        saved_constraints += [(table, name, definition) for name, definition in constraints]
        saved_indexes += [definition for _name, definition in indexes]
    pg.execute("SET session_replication_role = replica")  # the rows are consistent by construction
    try:
        yield
    finally:
        pg.execute("RESET session_replication_role")
        pg.execute("SET maintenance_work_mem = '256MB'")
        for table, name, definition in saved_constraints:
            pg.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for definition in saved_indexes:
            pg.execute(definition)
        pg.execute("RESET maintenance_work_mem")


def load(sellers: int, now: datetime) -> dict:
    from django.core.management import call_command

    from accounts import taxonomy

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    t1 = time.perf_counter()
    statement = PROFILES_SQL.format(
        category_odds=odds_mask(CATEGORY_ODDS, taxonomy.CATEGORY_CODES),
        purpose_odds=odds_mask(PURPOSE_ODDS, taxonomy.PURPOSE_CODES),
        age=weighted_case("p.r_age", AGE_WEIGHTS),
        gender=weighted_case("p.r_gender", GENDER_WEIGHTS),
        region=weighted_case("p.r_region", REGION_WEIGHTS),
        os=weighted_case("p.r_os", OS_WEIGHTS),
        operator=weighted_case("p.r_operator", OPERATOR_WEIGHTS),
        interests=weighted_sample_mask("%(interest_bits)s", "%(interest_weights)s", "p.n_interests"),
        affinities=weighted_sample_mask("%(affinity_bits)s", "%(affinity_weights)s", "p.n_affinities"),
    )
    with bulk_load(("accounts_user", "accounts_sellerprofile")):
        pg.execute("SELECT setseed(0.42)")
        pg.execute(USERS_SQL, {"sellers": sellers, "now": now})
        inserted = pg.execute(
            statement,
            {
                "sellable_share": SELLABLE_SHARE,
                "expired_share": EXPIRED_SHARE,
                "now": now,
                "min_future": MIN_FUTURE,
                "min_future_s": int(MIN_FUTURE.total_seconds()),
                "pair_masks": pair_mask_table(),
                "interest_bits": [taxonomy.mask_of([c], taxonomy.INTEREST_CODES) for c in INTEREST_WEIGHTS],
                "interest_weights": list(map(float, INTEREST_WEIGHTS.values())),
                "affinity_bits": [taxonomy.mask_of([c], taxonomy.AFFINITY_CODES) for c in AFFINITY_WEIGHTS],
                "affinity_weights": list(map(float, AFFINITY_WEIGHTS.values())),
            },
        )
        assert inserted == sellers, inserted
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    pg.execute("VACUUM ANALYZE accounts_user")
    pg.execute("VACUUM ANALYZE accounts_sellerprofile")
    pg.execute("CREATE TABLE bench_segments_meta (sellers integer NOT NULL, loaded_at timestamptz NOT NULL)")
    pg.execute("INSERT INTO bench_segments_meta VALUES (%s, %s)", [sellers, now])
    pg.execute("CHECKPOINT")
    t4 = time.perf_counter()
    return {"migrate_s": t1 - t0, "insert_s": t2 - t1, "index_s": t3 - t2, "vacuum_s": t4 - t3}


def describe_data(now: datetime) -> str:
    ((total, sellable, expired, mb_heap, mb_covering),) = pg.fetchall(
        """
        SELECT count(*), count(*) FILTER (WHERE sellable_mask > 0),
               count(*) FILTER (WHERE sellable_mask > 0 AND sellable_until <= %s),
               pg_relation_size('accounts_sellerprofile') / 1048576.0,
               pg_relation_size('profile_audience_covering') / 1048576.0
        FROM accounts_sellerprofile
        """,
        [now],
    )
    ((idf, corse, android, ios, orange, interests_bits, pairs),) = pg.fetchall(
        """
        SELECT avg((region = 'FR-IDF')::int), avg((region = 'FR-20R')::int),
               avg((mobile_os = 'android')::int), avg((mobile_os = 'ios')::int),
               avg((mobile_operator = 'orange')::int),
               avg(length(replace(interests_mask::bit(64)::text, '0', ''))),
               avg(length(replace(sellable_mask::bit(64)::text, '0', ''))) FILTER (WHERE sellable_mask > 0)
        FROM accounts_sellerprofile
        """
    )
    return (
        f"data: {total} profiles, {sellable / total:.1%} sellable ({pairs:.1f} pairs on average), "
        f"{expired} of them ({expired / sellable:.1%}) expired 1 s..1 day ago and not yet swept; "
        f"IDF {idf:.1%}, Corse {corse:.2%}, android {android:.1%}, ios {ios:.1%}, Orange {orange:.1%}, "
        f"{interests_bits:.1f} interests each; heap {mb_heap:.0f} MB, covering index {mb_covering:.0f} MB; "
        "no ConsentGrant rows (sizing reads only SellerProfile)"
    )


# ---------------------------------------------------------------------------------------------
# Segments: 20 realistic buyer briefs, and the SQL an expert would write for each by hand
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    name: str
    criteria: object  # listings.selectors.SegmentCriteria
    hand_sql: str  # {any_region} {any_age} {any_gender} {any_os}: see skip_scan_fillers
    hand_params: dict

    def sql(self, skip_scan: bool = True) -> str:
        return self.hand_sql.format(**skip_scan_fillers(skip_scan))


def skip_scan_fillers(on: bool) -> dict[str, str]:
    """PostgreSQL 15 has no btree skip scan: when a leading key column of profile_audience_covering
    (region, age_band, gender, mobile_os, mobile_operator) is unconstrained but a later one is, the
    scan reads every entry of the leading column's range. Listing the column's every value (the
    vocabulary and '' for "not given") turns it into one descent per combination that reads only
    matching entries. The hand-written SQL does that; without it, it is the straightforward SQL."""
    from accounts import taxonomy

    def any_of(column: str, values: list[str]) -> str:
        return f" AND {column} IN ({', '.join(repr(v) for v in [*values, ''])})" if on else ""

    return {
        "any_region": any_of("region", taxonomy.Region.values),
        "any_age": any_of("age_band", taxonomy.AgeBand.values),
        "any_gender": any_of("gender", taxonomy.Gender.values),
        "any_os": any_of("mobile_os", taxonomy.MobileOS.values),
    }


HAND_SQL = "SELECT count(*) FROM accounts_sellerprofile WHERE sellable_mask > 0 AND sellable_until > now()"


def segments() -> list[Segment]:
    """20 briefs of about five criteria, and for each the COUNT an expert writes against
    profile_audience_covering (key columns in index order, then the bit tests)."""
    from accounts import taxonomy
    from listings.selectors import SegmentCriteria as C

    def seg(name: str, criteria, where: str, **masks: tuple[str, list[str]]) -> Segment:
        params = {}
        for key, (kind, codes) in masks.items():
            if kind == "pairs":
                params[key] = taxonomy.pairs_mask(codes, [criteria.purpose])
            else:
                vocabulary = taxonomy.INTEREST_CODES if kind == "interests" else taxonomy.AFFINITY_CODES
                params[key] = taxonomy.mask_of(codes, vocabulary)
        return Segment(name, criteria, HAND_SQL + where, params)

    overseas = ["FR-971", "FR-972", "FR-973", "FR-974", "FR-976"]
    province = [
        "FR-ARA",
        "FR-BFC",
        "FR-BRE",
        "FR-CVL",
        "FR-GES",
        "FR-HDF",
        "FR-NOR",
        "FR-NAQ",
        "FR-OCC",
        "FR-PDL",
        "FR-PAC",
        "FR-20R",
    ]
    return [
        seg("idf-25-44-android-travel",
            C(["demographics", "location"], "targeted_advertising", regions=["FR-IDF"],
              age_bands=["25-34", "35-44"], mobile_os=["android"], interests=["travel", "cooking"]),
            " AND region = 'FR-IDF' AND age_band IN ('25-34', '35-44'){any_gender} AND mobile_os = 'android'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics", "location"]), i=("interests", ["travel", "cooking"])),
        seg("south-18-24-ios-gaming",
            C(["demographics", "device"], "targeted_advertising", regions=["FR-ARA", "FR-PAC", "FR-OCC"],
              age_bands=["18-24"], mobile_os=["ios"], interests=["gaming"]),
            " AND region IN ('FR-ARA', 'FR-PAC', 'FR-OCC') AND age_band = '18-24'{any_gender}"
            " AND mobile_os = 'ios' AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics", "device"]), i=("interests", ["gaming"])),
        seg("seniors-women-health",
            C(["demographics", "interests"], "market_research", age_bands=["55-64", "65+"],
              genders=["female"], interests=["health", "home_garden"]),
            "{any_region} AND age_band IN ('55-64', '65+') AND gender = 'female'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics", "interests"]), i=("interests", ["health", "home_garden"])),
        seg("north-east-men-free-sports",
            C(["telecom", "interests"], "ad_measurement", regions=["FR-HDF", "FR-GES"], genders=["male"],
              mobile_operators=["free"], interests=["sports", "automotive"]),
            " AND region IN ('FR-HDF', 'FR-GES'){any_age} AND gender = 'male'{any_os} AND mobile_operator = 'free'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["telecom", "interests"]), i=("interests", ["sports", "automotive"])),
        seg("corse-35-54-outdoors",
            C(["location"], "targeted_advertising", regions=["FR-20R"], age_bands=["35-44", "45-54"],
              interests=["outdoors"]),
            " AND region = 'FR-20R' AND age_band IN ('35-44', '45-54')"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["location"]), i=("interests", ["outdoors"])),
        seg("overseas-young-android-clips",
            C(["demographics", "location", "device"], "targeted_advertising", regions=overseas,
              age_bands=["18-24", "25-34"], mobile_os=["android"], affinities=["music_videos"]),
            " AND region IN ('FR-971', 'FR-972', 'FR-973', 'FR-974', 'FR-976')"
            " AND age_band IN ('18-24', '25-34'){any_gender} AND mobile_os = 'android'"
            " AND sellable_mask & %(w)s = %(w)s AND affinities_mask & %(a)s <> 0",
            w=("pairs", ["demographics", "location", "device"]), a=("affinities", ["music_videos"])),
        seg("young-men-ios-tech-and-gaming",
            C(["interests", "device"], "personalised_content", age_bands=["18-24", "25-34"], genders=["male"],
              mobile_os=["ios"], interests=["technology", "gaming"], interests_match="all"),
            "{any_region} AND age_band IN ('18-24', '25-34') AND gender = 'male' AND mobile_os = 'ios'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s = %(i)s",
            w=("pairs", ["interests", "device"]), i=("interests", ["technology", "gaming"])),
        seg("west-25-34-sfr-bytel-docs",
            C(["content_affinity"], "audience_measurement", regions=["FR-BRE", "FR-PDL", "FR-NOR"],
              age_bands=["25-34"], mobile_operators=["bouygues", "sfr"], affinities=["documentaries", "podcasts"]),
            " AND region IN ('FR-BRE', 'FR-PDL', 'FR-NOR') AND age_band = '25-34'{any_gender}{any_os}"
            " AND mobile_operator IN ('bouygues', 'sfr')"
            " AND sellable_mask & %(w)s = %(w)s AND affinities_mask & %(a)s <> 0",
            w=("pairs", ["content_affinity"]), a=("affinities", ["documentaries", "podcasts"])),
        seg("young-mothers",
            C(["demographics", "interests"], "targeted_advertising", age_bands=["25-34", "35-44"],
              genders=["female"], interests=["parenting"], affinities=["kids"]),
            "{any_region} AND age_band IN ('25-34', '35-44') AND gender = 'female'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0 AND affinities_mask & %(a)s <> 0",
            w=("pairs", ["demographics", "interests"]), i=("interests", ["parenting"]), a=("affinities", ["kids"])),
        seg("idf-45-64-ios-finance",
            C(["demographics", "location", "interests"], "targeted_advertising", regions=["FR-IDF"],
              age_bands=["45-54", "55-64"], mobile_os=["ios"], interests=["finance", "real_estate"]),
            " AND region = 'FR-IDF' AND age_band IN ('45-54', '55-64'){any_gender} AND mobile_os = 'ios'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics", "location", "interests"]), i=("interests", ["finance", "real_estate"])),
        seg("naq-25-34-life-events",
            C(["life_events", "demographics"], "product_development", regions=["FR-NAQ"], age_bands=["25-34"],
              interests=["real_estate", "parenting"]),
            " AND region = 'FR-NAQ' AND age_band = '25-34'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["life_events", "demographics"]), i=("interests", ["real_estate", "parenting"])),
        seg("other-os-mvno",
            C(["device", "telecom"], "market_research", mobile_os=["other"], mobile_operators=["mvno"],
              age_bands=["18-24", "25-34", "35-44"]),
            "{any_region} AND age_band IN ('18-24', '25-34', '35-44'){any_gender} AND mobile_os = 'other'"
            " AND mobile_operator = 'mvno' AND sellable_mask & %(w)s = %(w)s",
            w=("pairs", ["device", "telecom"])),
        seg("province-35-44-android-home",
            C(["interests"], "targeted_advertising", regions=province, age_bands=["35-44"],
              mobile_os=["android"], interests=["diy", "home_garden", "pets"]),
            " AND region IN ('FR-ARA', 'FR-BFC', 'FR-BRE', 'FR-CVL', 'FR-GES', 'FR-HDF', 'FR-NOR', 'FR-NAQ',"
            " 'FR-OCC', 'FR-PDL', 'FR-PAC', 'FR-20R') AND age_band = '35-44'{any_gender} AND mobile_os = 'android'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["interests"]), i=("interests", ["diy", "home_garden", "pets"])),
        seg("android-music-cinema-broad",
            C(["demographics"], "targeted_advertising", mobile_os=["android"], genders=["female", "male"],
              interests=["music", "cinema"]),
            # no skip-scan lists: 95% of genders x 75% android, they would save little and cost parallelism
            " AND gender IN ('female', 'male') AND mobile_os = 'android'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics"]), i=("interests", ["music", "cinema"])),
        seg("non-binary-anime-esports",
            C(["demographics"], "personalised_content", regions=["FR-IDF", "FR-ARA"],
              age_bands=["18-24", "25-34"], genders=["non_binary"], affinities=["anime", "esports"]),
            " AND region IN ('FR-IDF', 'FR-ARA') AND age_band IN ('18-24', '25-34') AND gender = 'non_binary'"
            " AND sellable_mask & %(w)s = %(w)s AND affinities_mask & %(a)s <> 0",
            w=("pairs", ["demographics"]), a=("affinities", ["anime", "esports"])),
        seg("pac-65-travel-cooking-books",
            C(["demographics", "interests"], "market_research", regions=["FR-PAC"], age_bands=["65+"],
              interests=["travel", "cooking", "books"], interests_match="all"),
            " AND region = 'FR-PAC' AND age_band = '65+'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s = %(i)s",
            w=("pairs", ["demographics", "interests"]), i=("interests", ["travel", "cooking", "books"])),
        seg("idf-hdf-orange-ios-25-54",
            C(["telecom", "device"], "ad_measurement", regions=["FR-IDF", "FR-HDF"],
              age_bands=["25-34", "35-44", "45-54"], mobile_os=["ios"], mobile_operators=["orange"]),
            " AND region IN ('FR-IDF', 'FR-HDF') AND age_band IN ('25-34', '35-44', '45-54'){any_gender}"
            " AND mobile_os = 'ios' AND mobile_operator = 'orange' AND sellable_mask & %(w)s = %(w)s",
            w=("pairs", ["telecom", "device"])),
        seg("east-men-45-plus-cars-sport",
            C(["interests", "content_affinity"], "targeted_advertising", regions=["FR-GES", "FR-BFC"],
              genders=["male"], age_bands=["45-54", "55-64", "65+"], interests=["automotive", "diy"],
              affinities=["sport_broadcasts"]),
            " AND region IN ('FR-GES', 'FR-BFC') AND age_band IN ('45-54', '55-64', '65+') AND gender = 'male'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0 AND affinities_mask & %(a)s <> 0",
            w=("pairs", ["interests", "content_affinity"]), i=("interests", ["automotive", "diy"]),
            a=("affinities", ["sport_broadcasts"])),
        seg("18-24-free-gaming-music",
            C(["demographics", "telecom", "device"], "targeted_advertising", age_bands=["18-24"],
              mobile_operators=["free"], interests=["gaming", "music"]),
            "{any_region} AND age_band = '18-24'{any_gender}{any_os} AND mobile_operator = 'free'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics", "telecom", "device"]), i=("interests", ["gaming", "music"])),
        seg("south-west-women-35-54-beauty",
            C(["demographics", "location", "interests"], "personalised_content", regions=["FR-OCC", "FR-NAQ"],
              genders=["female"], age_bands=["35-44", "45-54"], interests=["beauty", "fashion", "fitness"]),
            " AND region IN ('FR-OCC', 'FR-NAQ') AND age_band IN ('35-44', '45-54') AND gender = 'female'"
            " AND sellable_mask & %(w)s = %(w)s AND interests_mask & %(i)s <> 0",
            w=("pairs", ["demographics", "location", "interests"]), i=("interests", ["beauty", "fashion", "fitness"])),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def hand_count(segment: Segment, skip_scan: bool = True) -> int:
    """The hand-written COUNT, through the same Django connection as the selector."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(segment.sql(skip_scan), segment.hand_params)
        return cur.fetchone()[0]


def selector_sql(criteria) -> tuple[str, list]:
    """The exact statement `segment_size` sends, captured from the connection."""
    from django.db import connection

    from listings.selectors import segment_size

    captured: list[tuple[str, list]] = []

    def capture(execute_, statement, params, many, context):
        captured.append((statement, list(params or [])))
        return execute_(statement, params, many, context)

    with connection.execute_wrapper(capture):
        segment_size(criteria)
    assert len(captured) == 1, captured
    return captured[0]


def explain(statement: str, params) -> str:
    return "\n".join(row[0] for row in pg.fetchall("EXPLAIN (ANALYZE, BUFFERS) " + statement, params))


def plan_summary(plan: str) -> str:
    """Scan nodes and their indexes, with the parallel workers launched and JIT if any."""
    short = {"Index Only Scan": "IOS", "Bitmap Index Scan": "Bitmap", "Index Scan": "IS", "Seq Scan": "Seq"}
    parts = []
    for node, using, on in re.findall(
        r"((?:Parallel )?(?:Index Only Scan|Bitmap Index Scan|Index Scan|Seq Scan))(?: using (\S+)| on (\S+))?",
        plan,
    ):
        label = node.replace("Parallel ", "Par ")
        for long, abbreviation in short.items():
            label = label.replace(long, abbreviation)
        index = using or (on if "Bitmap" in node else "")
        parts.append(f"{label} {index}".strip())
    workers = sum(int(n) for n in re.findall(r"Workers Launched: (\d+)", plan))
    return "+".join(parts) + (f" [{workers} workers]" if workers else "") + (" JIT" if "JIT:" in plan else "")


def reference_scans(reps: int) -> tuple[float, float]:
    """p50 of a full heap scan and of a full covering-index scan of the sellable rows."""
    from django.db import connection, transaction

    statement = (
        "SELECT count(*) FROM accounts_sellerprofile WHERE sellable_mask > 0 AND interests_mask & 1 <> 0"
    )

    def run(*settings_sql: str) -> float:
        timings = []
        for _ in range(reps + 1):
            with transaction.atomic(), connection.cursor() as cur:
                for setting in settings_sql:
                    cur.execute(setting)
                timings.append(timed(lambda cur=cur: (cur.execute(statement), cur.fetchone())))
        return percentile(timings[1:], 0.5)

    heap = run(
        "SET LOCAL enable_indexscan = off",
        "SET LOCAL enable_indexonlyscan = off",
        "SET LOCAL enable_bitmapscan = off",
    )
    covering = run("SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off")
    return heap, covering


@dataclass
class SizeResult:
    sellers: int
    p50: float
    p99: float
    hand_p50: float
    hand_p99: float
    plain_p50: float
    reference_covering_ms: float

    @property
    def ratio(self) -> float:
        return self.p50 / self.hand_p50

    def line(self) -> str:
        return (
            f"sellers={self.sellers} p50_ms={self.p50:.2f} p99_ms={self.p99:.2f} "
            f"hand_sql_p50_ms={self.hand_p50:.2f} ratio={self.ratio:.2f}"
        )


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def measure(sellers: int, reps: int, out: Path) -> SizeResult:
    from django.conf import settings

    from listings.selectors import rounded_count, segment_members, segment_size

    k = settings.SEGMENT_MIN_SIZE
    heap_ms, covering_ms = reference_scans(5)
    print(
        f"reference: full heap scan {heap_ms:.1f} ms, full covering-index scan {covering_ms:.1f} ms (p50 of 5; "
        f"load average {load_average()} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    series: dict[str, list[float]] = {"selector": [], "hand": [], "plain": []}
    parallel = []
    lines = [
        f"{'segment':31} {'count':>7} {'sel_p50':>8} {'hand_p50':>8} {'plain_p50':>9}  plans: selector | hand"
    ]
    explains = []
    for segment in segments():
        # correctness first: every form agrees on the exact count, and segment_size rounds it
        exact = segment_members(segment.criteria).count()
        by_hand, plain = hand_count(segment), hand_count(segment, skip_scan=False)
        if not exact == by_hand == plain:
            raise SystemExit(
                f"{segment.name}: selector counts {exact}, hand SQL {by_hand}, plain SQL {plain}"
            )
        expected = rounded_count(exact) if exact >= k else None
        if segment_size(segment.criteria)["count"] != expected:
            raise SystemExit(f"{segment.name}: segment_size disagrees with rounded_count({exact})")
        # interleaved, so that a burst of load elsewhere hits all three alike
        runs: dict[str, list[float]] = {"selector": [], "hand": [], "plain": []}
        for _ in range(reps):
            runs["selector"].append(timed(lambda s=segment: segment_size(s.criteria)))
            runs["hand"].append(timed(lambda s=segment: hand_count(s)))
            runs["plain"].append(timed(lambda s=segment: hand_count(s, skip_scan=False)))
        for name, timings in runs.items():
            series[name] += timings
        statement, params = selector_sql(segment.criteria)
        sel_plan = explain(statement, params)
        hand_plan = explain(segment.sql(), segment.hand_params)
        parallel += [
            name for name, plan in (("selector", sel_plan), ("hand", hand_plan)) if "Workers Launched" in plan
        ]
        explains.append(
            f"===== {segment.name}: selector =====\n{statement % tuple(repr(p) for p in params)}\n\n{sel_plan}\n\n"
            f"===== {segment.name}: hand SQL =====\n{segment.sql() % segment.hand_params}\n\n{hand_plan}\n"
        )
        p50s = [percentile(runs[name], 0.5) for name in ("selector", "hand", "plain")]
        lines.append(
            f"{segment.name:31} {exact:>7} {p50s[0]:>8.2f} {p50s[1]:>8.2f} {p50s[2]:>9.2f}  "
            f"{plan_summary(sel_plan)} | {plan_summary(hand_plan)}"
        )
    out.write_text("\n".join(explains))
    print("\n".join(lines), flush=True)
    result = SizeResult(
        sellers=sellers,
        p50=percentile(series["selector"], 0.5),
        p99=percentile(series["selector"], 0.99),
        hand_p50=percentile(series["hand"], 0.5),
        hand_p99=percentile(series["hand"], 0.99),
        plain_p50=percentile(series["plain"], 0.5),
        reference_covering_ms=covering_ms,
    )
    print(
        f"{len(series['selector'])} timings each; hand SQL p99 {result.hand_p99:.2f} ms; straightforward hand SQL "
        f"(no skip-scan lists) p50 {result.plain_p50:.2f} ms; selector p50 = "
        f"{result.p50 / covering_ms:.2f}x a full covering-index scan; parallel workers launched in "
        f"{len(parallel)} of {2 * len(explains)} explained queries"
        f" ({parallel.count('selector')} selector); load average {load_average()}; "
        f"EXPLAIN (ANALYZE, BUFFERS) in {out.relative_to(ROOT)}",
        flush=True,
    )
    return result


def size_label(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{n / 1000:g}k" if n >= 1000 else str(n)


def server_settings() -> str:
    names = ("work_mem", "max_parallel_workers_per_gather", "jit", "shared_buffers", "random_page_cost")
    rows = pg.fetchall(
        "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name", [list(names)]
    )
    return ", ".join(f"{n}={s}{u or ''}" for n, s, u in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated")
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions per segment")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse the loaded data if it has the size and is under an hour old",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    cfg = pg.db_config(DEFAULT_URL)
    name = cfg["NAME"]
    pg.configure_django(cfg)
    from django.utils import timezone

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    for sellers in sizes:
        print(f"== {sellers} sellers ==", flush=True)
        meta = loaded_meta(cfg, name) if args.keep else None
        if meta and meta[0] == sellers and timezone.now() - meta[1] < MIN_FUTURE - timedelta(minutes=10):
            now = meta[1]
            reconnect()
            print(f"load: reusing {name} loaded at {now.isoformat()}", flush=True)
        else:
            from django.db import connection

            connection.close()
            pg.recreate_database(cfg, name)
            now = timezone.now().replace(microsecond=0)
            took = load(sellers, now)
            print(
                f"load: migrate {took['migrate_s']:.1f}s, insert users+profiles {took['insert_s']:.1f}s, "
                f"indexes {took['index_s']:.1f}s, vacuum analyze+checkpoint {took['vacuum_s']:.1f}s",
                flush=True,
            )
        print(describe_data(now), flush=True)
        print(f"server: {server_settings()}", flush=True)
        result = measure(sellers, args.reps, OUT_DIR / f"segments_explain_{sellers}.txt")
        results.append(result)
        print(result.line(), flush=True)

    from django.db import connection

    connection.close()
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"p50 grew {last.p50 / first.p50:.1f}x from {size_label(first.sellers)} to "
            f"{size_label(last.sellers)} sellers ({last.sellers / first.sellers:.0f}x the data); "
            f"hand SQL grew {last.hand_p50 / first.hand_p50:.1f}x"
        )
    print(results[-1].line())


if __name__ == "__main__":
    main()
