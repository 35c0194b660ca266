"""Re-apply the ledger's SQL: the set-based batch looks ledger rows up by index (system accounts
once per batch, balances and results by id) and advances FIFO positions from the lots it just
spent, instead of plans that scanned whole ledger tables on every batch; and a batch crediting one
owner in several entries (awards to a user with several transactions) stays set-based; and in a
set-based batch an entry whose key was used before answers with its first outcome, instead of being
checked against the balance as it is now."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_batch_shard")]

    operations = [migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop)]
