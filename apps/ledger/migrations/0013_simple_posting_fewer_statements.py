"""khata_ledger_post_simple updates the accounts it locked by their row version, spends and forms
a transfer's one lot without the general loops, and has fewer statements and plan nodes: the
ledger's SQL is applied again."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0012_leaner_simple_posting"),
    ]

    operations = [
        migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop),
    ]
