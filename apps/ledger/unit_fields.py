"""Integer columns whose range PostgreSQL enforces through a domain type (khata_units_* in
migration ledger.0011) rather than a table CHECK constraint.

Both refuse a bad value in any write, raw SQL included. The difference is the cost: a domain's
check is prepared once per connection, while a table's CHECK constraints are rebuilt from their
stored text by every statement that writes the table — about a tenth of a posting's database
time when the ledger's tables carried them. Checks over several columns (a no-overdraft
account's balance) stay table constraints."""

from django.db import models


class _DomainBigIntegerField(models.BigIntegerField):
    domain = ""

    def db_type(self, connection):
        return self.domain


class UnitsNonZeroField(_DomainBigIntegerField):
    """A signed amount that is never zero (a posting)."""

    domain = "khata_units_nonzero"


class UnitsPositiveField(_DomainBigIntegerField):
    """An amount above zero (a lot, a lot consumption)."""

    domain = "khata_units_positive"


class UnitsNonNegativeField(_DomainBigIntegerField):
    """Zero or more (what is left of a lot, an account's pending holds)."""

    domain = "khata_units_non_negative"


class ShardField(models.SmallIntegerField):
    """One of a system account's 64 balance rows: 0 to 63."""

    def db_type(self, connection):
        return "khata_balance_shard"
