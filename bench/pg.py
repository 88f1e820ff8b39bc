"""PostgreSQL plumbing shared by the benchmarks: psycopg2 on the maintenance database (create,
clone, drop), Django on the bench database.

Every bench database is dropped and recreated, so its name must contain "bench";
`BENCH_DATABASE_URL` overrides each benchmark's default.
"""

from __future__ import annotations

import os

import environ
import psycopg2
from psycopg2 import sql


def db_config(default_url: str) -> dict:
    cfg = environ.Env.db_url_config(os.environ.get("BENCH_DATABASE_URL", default_url))
    if "bench" not in cfg["NAME"]:
        raise SystemExit(f"refusing to drop and recreate {cfg['NAME']!r}: its name must contain 'bench'")
    return cfg


def connect(cfg: dict, dbname: str = "postgres"):
    """A psycopg2 connection in autocommit mode (CREATE/DROP DATABASE need it)."""
    conn = psycopg2.connect(
        dbname=dbname,
        user=cfg.get("USER") or None,
        password=cfg.get("PASSWORD") or None,
        host=cfg.get("HOST") or None,
        port=cfg.get("PORT") or None,
    )
    conn.autocommit = True
    return conn


def query(conn, statement, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def database_exists(admin, name: str) -> bool:
    return bool(query(admin, "SELECT 1 FROM pg_database WHERE datname = %s", [name]))


def drop_database(admin, name: str) -> None:
    query(admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(admin, name: str, template: str | None = None) -> None:
    if template is None:
        query(admin, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    else:
        # FILE_COPY checkpoints first, so no dirty page of the load is flushed while timing.
        query(
            admin,
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            ),
        )


def recreate_database(cfg: dict, name: str | None = None) -> None:
    """Drop and create `name` (default: the configured database), empty."""
    admin = connect(cfg)
    try:
        drop_database(admin, name or cfg["NAME"])
        create_database(admin, name or cfg["NAME"])
    finally:
        admin.close()


def configure_django(cfg: dict) -> None:
    """Point Django's default database at `cfg`, with persistent connections, and set it up."""
    from django.conf import settings

    settings.DATABASES["default"].update(
        {k: cfg[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT") if k in cfg}
    )
    settings.DATABASES["default"]["CONN_MAX_AGE"] = None
    import django

    django.setup()


def use_database(name: str | None) -> None:
    """Close Django's connection and point it at `name` (None: just close it)."""
    from django.conf import settings
    from django.db import connection

    connection.close()
    if name is not None:
        settings.DATABASES["default"]["NAME"] = name
        connection.settings_dict["NAME"] = name


def execute(statement: str, params=None) -> int:
    """Run one statement on Django's connection; returns its row count."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(statement, params)
        return cur.rowcount


def fetchall(statement: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()
