"""Ranges of the ledger's amounts move from table CHECK constraints to domain types
(apps/ledger/unit_fields.py), and "an owner or a system name" to a trigger; the ledger's SQL is
applied again for that trigger, for khata_ledger_post_simple (the common entries in few
statements) and for khata_ledger_replay."""

from django.db import migrations

import apps.ledger.unit_fields
from apps.ledger.sql import LEDGER_SQL

DOMAINS = """
CREATE DOMAIN khata_units_nonzero AS bigint CHECK (VALUE <> 0);
CREATE DOMAIN khata_units_positive AS bigint CHECK (VALUE > 0);
CREATE DOMAIN khata_units_non_negative AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN khata_balance_shard AS smallint CHECK (VALUE BETWEEN 0 AND 63);
"""
DOMAINS_DROP = """
DROP DOMAIN khata_units_nonzero;
DROP DOMAIN khata_units_positive;
DROP DOMAIN khata_units_non_negative;
DROP DOMAIN khata_balance_shard;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0010_lots_under_account_lock"),
    ]

    operations = [
        migrations.RunSQL(DOMAINS, DOMAINS_DROP),
        migrations.RemoveConstraint(
            model_name="account",
            name="ledger_account_owner_xor_system",
        ),
        migrations.RemoveConstraint(
            model_name="account",
            name="ledger_account_pending_non_negative",
        ),
        migrations.RemoveConstraint(
            model_name="lot",
            name="ledger_lot_amount_positive",
        ),
        migrations.RemoveConstraint(
            model_name="lot",
            name="ledger_lot_remaining_range",
        ),
        migrations.RemoveConstraint(
            model_name="lotconsumption",
            name="ledger_consumption_positive",
        ),
        migrations.RemoveConstraint(
            model_name="posting",
            name="ledger_posting_nonzero",
        ),
        migrations.AlterField(
            model_name="account",
            name="pending",
            field=apps.ledger.unit_fields.UnitsNonNegativeField(
                default=0, help_text="Amount reserved by pending holds."
            ),
        ),
        migrations.AlterField(
            model_name="balanceshard",
            name="shard",
            field=apps.ledger.unit_fields.ShardField(),
        ),
        migrations.AlterField(
            model_name="lot",
            name="amount",
            field=apps.ledger.unit_fields.UnitsPositiveField(),
        ),
        migrations.AlterField(
            model_name="lot",
            name="remaining",
            field=apps.ledger.unit_fields.UnitsNonNegativeField(),
        ),
        migrations.AlterField(
            model_name="lotconsumption",
            name="amount",
            field=apps.ledger.unit_fields.UnitsPositiveField(),
        ),
        migrations.AlterField(
            model_name="posting",
            name="amount",
            field=apps.ledger.unit_fields.UnitsNonZeroField(
                help_text="Signed: positive adds to the account's balance."
            ),
        ),
        migrations.RunSQL(LEDGER_SQL, migrations.RunSQL.noop),
    ]
