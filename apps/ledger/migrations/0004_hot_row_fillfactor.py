"""Leave room on each page of the rows that change on every posting (account and shard
balances, lots being spent), so PostgreSQL can update them in place (HOT) without touching
their indexes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_database_invariants")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE ledger_account SET (fillfactor = 70); ALTER TABLE ledger_balanceshard SET (fillfactor = 50);"
            " ALTER TABLE ledger_lot SET (fillfactor = 80);",
            "ALTER TABLE ledger_account RESET (fillfactor); ALTER TABLE ledger_balanceshard RESET (fillfactor);"
            " ALTER TABLE ledger_lot RESET (fillfactor);",
        ),
    ]
