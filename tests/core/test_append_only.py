"""core/append_only.py: history tables refuse UPDATE and DELETE on PostgreSQL and on SQLite,
where a table rebuilt by a migration would lose its triggers but for the post_migrate repair."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from core import append_only, audit
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_every_history_table_carries_its_trigger():
    assert append_only.tables() == [
        "accounts_consentevent",
        "accounts_receipttemplate",
        "core_auditentry",
        "payments_ledgerentry",
        "payments_ledgertransaction",
    ]
    assert append_only.unprotected_tables() == []


def test_a_row_of_history_is_neither_changed_nor_deleted(organisation):
    entry = audit.record("organisation.flagged", organisation, reason="spam")
    for change in (
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(reason="nothing happened"),
        lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises((DatabaseError, IntegrityError), match="append-only"), transaction.atomic():
            change()
    entry.refresh_from_db()
    assert entry.reason == "spam"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite drops triggers when it rebuilds a table")
def test_a_trigger_lost_to_a_table_rebuild_is_put_back_after_migrate():
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS core_auditentry_no_update")
    assert append_only.unprotected_tables() == ["core_auditentry"]

    append_only.ensure_sqlite_triggers()

    assert append_only.unprotected_tables() == []
