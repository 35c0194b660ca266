from django.db import migrations

from apps.ledger.sql import LEDGER_SQL as SQL

REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_immutable ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_posting_immutable ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_consumption_immutable ON ledger_lotconsumption;
DROP TRIGGER IF EXISTS ledger_checkpoint_immutable ON ledger_checkpoint;
DROP TRIGGER IF EXISTS ledger_account_undeletable ON ledger_account;
DROP TRIGGER IF EXISTS ledger_asset_undeletable ON ledger_asset;
DROP TRIGGER IF EXISTS ledger_lot_undeletable ON ledger_lot;
DROP TRIGGER IF EXISTS ledger_posting_asset ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;
DROP FUNCTION IF EXISTS khata_ledger_post_batch(jsonb);
DROP FUNCTION IF EXISTS khata_ledger_post(jsonb);
DROP FUNCTION IF EXISTS khata_ledger_account(bigint, text, text, text);
DROP FUNCTION IF EXISTS khata_ledger_entry_balanced();
DROP FUNCTION IF EXISTS khata_ledger_posting_asset();
DROP FUNCTION IF EXISTS khata_ledger_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_assets")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
