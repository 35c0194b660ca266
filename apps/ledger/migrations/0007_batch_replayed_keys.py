"""Re-apply the ledger's SQL: in a set-based batch, an entry whose key was used before answers
with its first outcome instead of being checked against the balance as it is now."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_batch_index_probes")]

    operations = [migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop)]
