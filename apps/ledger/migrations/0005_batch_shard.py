"""Re-apply the ledger's SQL: a batch posted entry by entry now uses one system-balance shard,
so parallel batches no longer deadlock on shard rows."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL as SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_hot_row_fillfactor")]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
