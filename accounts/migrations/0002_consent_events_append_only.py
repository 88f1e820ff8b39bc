"""The database refuses UPDATE and DELETE on consent events, whoever asks (ORM or raw SQL).

PostgreSQL: a BEFORE UPDATE OR DELETE row trigger raises. SQLite (make run): RAISE(ABORT) triggers.
TRUNCATE (used by test database flushes) is not a row operation and stays possible for the owner.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION courtier_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consentevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_consentevent
    FOR EACH ROW EXECUTE FUNCTION courtier_refuse_change();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS consentevent_append_only ON accounts_consentevent;
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER consentevent_no_update BEFORE UPDATE ON accounts_consentevent
       BEGIN SELECT RAISE(ABORT, 'accounts_consentevent is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER consentevent_no_delete BEFORE DELETE ON accounts_consentevent
       BEGIN SELECT RAISE(ABORT, 'accounts_consentevent is append-only: DELETE refused'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS consentevent_no_update;",
    "DROP TRIGGER IF EXISTS consentevent_no_delete;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
