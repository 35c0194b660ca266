"""Re-apply the ledger's SQL: the batch post finds owner accounts with one index probe per leg.
As a join, the planner took the (statistics-less) batch for a few rows and scanned every owner
account once per leg, a cost that grew with the number of accounts."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_generic_plans")]

    operations = [migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop)]
