"""Re-apply the ledger's SQL: a debit spends its lots without locking each lot row, since lots
change only under their account's row lock, which the posting already holds."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0009_statement_asset_check")]

    operations = [migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop)]
