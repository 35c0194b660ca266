"""An inbound event's key to the API client that sent it has no database constraint: it locked
the client's row for every event stored, one row shared by all of that client's batches."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0006_stream_keys_unconstrained'),
        ('identity', '0003_user_platform_updated_at'),
    ]

    operations = [
        migrations.AlterField(
            model_name='inboundevent',
            name='source',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='inbound_events', to='identity.apiclient'),
        ),
    ]
