# Drops the single-column indexes Django made for the bid foreign keys: bid_organisation and
# bid_ranking lead with the same columns, so every bid paid for two extra index entries.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_consent_event_storage'),
        ('listings', '0001_initial'),
        ('marketplace', '0002_settlement_batches'),
    ]

    operations = [
        migrations.AlterField(
            model_name='bid',
            name='listing',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='bids', to='listings.listing'),
        ),
        migrations.AlterField(
            model_name='bid',
            name='organisation',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='bids', to='accounts.buyerorganisation'),
        ),
    ]
