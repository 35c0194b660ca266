"""Re-apply the ledger's SQL: the posting function plans its statements once per connection
(generic plans) instead of planning some of them afresh on every call, and skips the system-balance
step for entries without a system account."""

from django.db import migrations

from apps.ledger.sql import LEDGER_SQL


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_batch_index_probes")]

    operations = [migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop)]
