"""The database enforces the ledger's rules, whoever writes (ORM or raw SQL).

- entries and transactions are append-only (reuses accounts' courtier_refuse_change());
- an entry's (account, currency) must be an existing account's (account, currency);
- at commit, each transaction touched has ≥ 2 entries summing to zero per currency
  (a DEFERRABLE INITIALLY DEFERRED constraint trigger, checked once per statement's rows).
SQLite (make run) gets the append-only triggers; the balance rule is checked there by the service.
"""

from django.db import migrations

PG_FORWARD = """
ALTER TABLE payments_ledgerentry
    ADD CONSTRAINT ledger_entry_account_currency_fk FOREIGN KEY (account_id, currency)
    REFERENCES payments_ledgeraccount (id, currency) DEFERRABLE INITIALLY DEFERRED;

CREATE TRIGGER ledgerentry_append_only BEFORE UPDATE OR DELETE ON payments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION courtier_refuse_change();
CREATE TRIGGER ledgertransaction_append_only BEFORE UPDATE OR DELETE ON payments_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION courtier_refuse_change();

CREATE OR REPLACE FUNCTION courtier_ledger_check_balanced() RETURNS trigger AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT e.transaction_id, e.currency, sum(e.amount) AS total, count(*) AS n
      INTO unbalanced
      FROM payments_ledgerentry e
     WHERE e.transaction_id = NEW.transaction_id
     GROUP BY e.transaction_id, e.currency
    HAVING sum(e.amount) <> 0 OR count(*) < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %: sum %, % entries',
            unbalanced.transaction_id, unbalanced.currency, unbalanced.total, unbalanced.n
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledgerentry_balanced
    AFTER INSERT ON payments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION courtier_ledger_check_balanced();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledgerentry_balanced ON payments_ledgerentry;
DROP FUNCTION IF EXISTS courtier_ledger_check_balanced();
DROP TRIGGER IF EXISTS ledgertransaction_append_only ON payments_ledgertransaction;
DROP TRIGGER IF EXISTS ledgerentry_append_only ON payments_ledgerentry;
ALTER TABLE payments_ledgerentry DROP CONSTRAINT IF EXISTS ledger_entry_account_currency_fk;
"""
SQLITE_FORWARD = [
    f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"""
    for table in ("payments_ledgerentry", "payments_ledgertransaction")
    for op in ("UPDATE", "DELETE")
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {table}_no_{op};"
    for table in ("payments_ledgerentry", "payments_ledgertransaction")
    for op in ("update", "delete")
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial"), ("accounts", "0002_consent_events_append_only")]
    operations = [migrations.RunPython(forward, backward)]
