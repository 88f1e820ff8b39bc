"""Leaner consent-event storage (measured by `make bench-consent`).

- Receipt templates: the part of a receipt that depends only on the event kind, the category,
  the purpose and the wording (~1.1 kB of ~1.4 kB) is stored once in ReceiptTemplate, which is
  append-only like the events; an event keeps its own fields and a reference. Existing events
  keep their whole receipt and no template.
- One foreign key for an event's grant and seller, (grant_id, seller_id) -> the grant's
  (id, seller_id), instead of one each (PostgreSQL; SQLite keeps none, as for the ledger's
  composite key): one check per event, and the database now also refuses an event whose seller
  is not its grant's. The seller column loses its own index: consent_event_seller
  (seller, occurred_at) leads with the same column, so every event paid for two seller indexes.
- On PostgreSQL, receipts are compressed inline (lz4 where the server has it) instead of only in
  rows over ~2 kB, for the older, whole receipts.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

PG_FORWARD = """
ALTER TABLE accounts_consentevent ADD CONSTRAINT consent_event_grant_seller_fk
    FOREIGN KEY (grant_id, seller_id) REFERENCES accounts_consentgrant (id, seller_id)
    DEFERRABLE INITIALLY DEFERRED;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        ALTER TABLE accounts_consentevent ALTER COLUMN receipt SET COMPRESSION lz4;
    END IF;
END $$;
ALTER TABLE accounts_consentevent SET (toast_tuple_target = 128);
CREATE TRIGGER receipttemplate_append_only BEFORE UPDATE OR DELETE ON accounts_receipttemplate
    FOR EACH ROW EXECUTE FUNCTION courtier_refuse_change();
"""
PG_BACKWARD = """
ALTER TABLE accounts_consentevent DROP CONSTRAINT IF EXISTS consent_event_grant_seller_fk;
DROP TRIGGER IF EXISTS receipttemplate_append_only ON accounts_receipttemplate;
ALTER TABLE accounts_consentevent ALTER COLUMN receipt SET COMPRESSION default;
ALTER TABLE accounts_consentevent RESET (toast_tuple_target);
"""
SQLITE_FORWARD = [
    f"""CREATE TRIGGER receipttemplate_no_{op.lower()} BEFORE {op} ON accounts_receipttemplate
       BEGIN SELECT RAISE(ABORT, 'accounts_receipttemplate is append-only: {op} refused'); END;"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS receipttemplate_no_{op};" for op in ("update", "delete")]


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
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_profile_vocabularies")]

    operations = [
        migrations.AddConstraint(
            model_name="consentgrant",
            constraint=models.UniqueConstraint(fields=("id", "seller"), name="consent_grant_id_seller"),
        ),
        migrations.AlterField(
            model_name="consentevent",
            name="grant",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="accounts.consentgrant",
            ),
        ),
        migrations.AlterField(
            model_name="consentevent",
            name="seller",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="consent_events",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.CreateModel(
            name="ReceiptTemplate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(max_length=64, unique=True)),
                ("body", models.JSONField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AddField(
            model_name="consentevent",
            name="template",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.receipttemplate",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
