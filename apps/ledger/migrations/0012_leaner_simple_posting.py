"""khata_ledger_post_simple in fewer executor nodes (no sorts, no aggregates, the system account
looked up only when a leg names one) and claiming its key with a plain insert, and the balance
check summing one asset per posting: the ledger's SQL is applied again."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0011_unit_domains_simple_posting"),
    ]

    operations = [
        migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop),
    ]
