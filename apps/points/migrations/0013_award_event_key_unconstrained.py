"""An award's key to the event it came from has no database constraint: it was checked at commit
with a share lock on the event, for every award."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0006_stream_keys_unconstrained"),
        ("points", "0012_profile_fillfactor"),
    ]

    operations = [
        migrations.AlterField(
            model_name="award",
            name="inbound_event",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="events.inboundevent",
            ),
        ),
    ]
