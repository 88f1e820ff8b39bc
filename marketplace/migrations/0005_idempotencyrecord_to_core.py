# IdempotencyRecord now belongs to core (core 0001 took over its table and renamed it): forget it
# here, in Django's state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace', '0004_settlement_batch_awaiting_buyer'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='IdempotencyRecord')],
            database_operations=[],
        ),
    ]
