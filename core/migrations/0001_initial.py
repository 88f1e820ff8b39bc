# IdempotencyRecord moves from marketplace to core without copying a row: this migration takes
# over the existing table in Django's state only, then renames it (a catalogue change). It runs
# after marketplace's migrations because marketplace created that table; marketplace 0005 drops
# the model from its own state, nothing from the database.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('marketplace', '0004_settlement_batch_awaiting_buyer'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IdempotencyRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=255)),
                        ('method_path', models.CharField(max_length=300)),
                        ('request_hash', models.CharField(max_length=64)),
                        ('response_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('response_body', models.JSONField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.buyerorganisation')),
                    ],
                    options={
                        'db_table': 'marketplace_idempotencyrecord',
                        'constraints': [models.UniqueConstraint(fields=('organisation', 'key'), name='idempotency_key_unique')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='idempotencyrecord', table=None),
    ]
