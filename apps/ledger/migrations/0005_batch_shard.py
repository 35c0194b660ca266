"""Re-apply the ledger's SQL: a batch posted entry by entry now uses one system-balance shard,
so parallel batches no longer deadlock on shard rows."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "ledger_post_v1.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_hot_row_fillfactor")]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
