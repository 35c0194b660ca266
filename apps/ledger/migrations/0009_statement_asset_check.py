"""Re-apply the ledger's SQL: a posting's asset is checked against its account's once per INSERT
statement, over all the statement's rows, instead of by a trigger on each row."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_batch_owner_probes")]

    operations = [migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop)]
