"""The ledger's database-side code. Every statement in ledger_post_v1.sql is idempotent, so a
change to it ships with a migration that applies it again: `RunSQL(LEDGER_SQL, noop)`."""

from pathlib import Path

LEDGER_SQL = (Path(__file__).resolve().parent / "ledger_post_v1.sql").read_text()
