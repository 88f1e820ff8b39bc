"""History the database itself keeps from being changed: models marked `APPEND_ONLY = True`
(consent events and receipt templates, ledger transactions and entries, the audit trail).

On PostgreSQL each such table carries a BEFORE UPDATE OR DELETE trigger calling
`courtier_refuse_change()`, installed by its app's migrations. SQLite (`make run`) rebuilds a
table to alter it, which drops its triggers; so after every migrate `ensure_sqlite_triggers`
puts back any that are missing. `unprotected_tables()` names the tables without their trigger,
for the market's invariant check (marketplace.invariants).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connections

SQLITE_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {OP} ON {table} "
    "BEGIN SELECT RAISE(ABORT, '{table} is append-only: {OP} refused'); END;"
)


def tables() -> list[str]:
    return sorted(m._meta.db_table for m in apps.get_models() if getattr(m, "APPEND_ONLY", False))


def ensure_sqlite_triggers(using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: every append-only table of a SQLite database has its two triggers."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in tables():
            if table in existing:
                for op in ("update", "delete"):
                    cursor.execute(SQLITE_TRIGGER.format(table=table, op=op, OP=op.upper()))


def unprotected_tables(using: str = "default") -> list[str]:
    """Append-only tables whose UPDATE trigger is missing."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'courtier_refuse_change' "
                "AND NOT t.tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%BEFORE UPDATE%'"
            )
        protected = {row[0] for row in cursor.fetchall()}
    return [table for table in tables() if table not in protected]
