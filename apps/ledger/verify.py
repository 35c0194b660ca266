"""Re-derive everything cached from the postings and report every mismatch."""

from dataclasses import dataclass, field

from django.db import connection

from apps.ledger.checkpoints import checkpoint_digest
from apps.ledger.models import Checkpoint

CHECKS = {
    "unbalanced_entries": """
        SELECT entry_id, asset_id, sum(amount) FROM ledger_posting GROUP BY entry_id, asset_id HAVING sum(amount) <> 0""",
    "asset_totals_not_zero": """
        SELECT asset_id, sum(amount) FROM ledger_posting GROUP BY asset_id HAVING sum(amount) <> 0""",
    "owner_balance_mismatch": """
        SELECT a.id, a.posted, coalesce(p.total, 0) FROM ledger_account a
          LEFT JOIN (SELECT account_id, sum(amount) total FROM ledger_posting GROUP BY account_id) p ON p.account_id = a.id
         WHERE a.system_name = '' AND a.posted <> coalesce(p.total, 0)""",
    "system_balance_mismatch": """
        SELECT a.id, coalesce(s.total, 0), coalesce(p.total, 0) FROM ledger_account a
          LEFT JOIN (SELECT account_id, sum(posted) total FROM ledger_balanceshard GROUP BY account_id) s ON s.account_id = a.id
          LEFT JOIN (SELECT account_id, sum(amount) total FROM ledger_posting GROUP BY account_id) p ON p.account_id = a.id
         WHERE a.system_name <> '' AND coalesce(s.total, 0) <> coalesce(p.total, 0)""",
    "pending_mismatch": """
        SELECT a.id, a.pending, coalesce(h.total, 0) FROM ledger_account a
          LEFT JOIN (SELECT account_id, sum(amount) total FROM ledger_hold WHERE status = 'pending' GROUP BY account_id) h
            ON h.account_id = a.id
         WHERE a.pending <> coalesce(h.total, 0)""",
    "overdrawn_accounts": """
        SELECT id, posted, pending FROM ledger_account WHERE NOT allow_overdraft AND posted - pending < 0""",
    "lot_remaining_mismatch": """
        SELECT l.id, l.remaining, l.amount - coalesce(c.total, 0) FROM ledger_lot l
          LEFT JOIN (SELECT lot_id, sum(amount) total FROM ledger_lotconsumption GROUP BY lot_id) c ON c.lot_id = l.id
         WHERE l.remaining <> l.amount - coalesce(c.total, 0)""",
    "unspent_lots_below_fifo_start": """
        SELECT a.id, a.fifo_from, l.id FROM ledger_account a JOIN ledger_lot l ON l.account_id = a.id
         WHERE l.id < a.fifo_from AND l.remaining > 0""",
    "lots_do_not_cover_balance": """
        SELECT a.id, a.posted, coalesce(l.total, 0) FROM ledger_account a
          LEFT JOIN (SELECT account_id, sum(remaining) total FROM ledger_lot GROUP BY account_id) l ON l.account_id = a.id
         WHERE a.system_name = '' AND a.posted <> coalesce(l.total, 0)""",
}

# References that carry no foreign-key constraint (see models.py) must all resolve.
CHECKS["dangling_references"] = """
    SELECT 'posting', p.id FROM ledger_posting p
     WHERE NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.id = p.entry_id)
        OR NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = p.account_id AND a.asset_id = p.asset_id)
    UNION ALL
    SELECT 'lot', l.id FROM ledger_lot l
     WHERE NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.id = l.entry_id)
        OR NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = l.account_id)
        OR (l.source_lot_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_lot s WHERE s.id = l.source_lot_id))
    UNION ALL
    SELECT 'consumption', c.id FROM ledger_lotconsumption c
     WHERE NOT EXISTS (SELECT 1 FROM ledger_lot l WHERE l.id = c.lot_id)
        OR NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.id = c.entry_id)
    UNION ALL
    SELECT 'operation', o.id FROM ledger_operation o
     WHERE (o.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.id = o.entry_id))
        OR (o.status = 'succeeded' AND o.entry_id IS NULL AND o.hold_id IS NULL)"""

COUNTS = {
    "entries": "SELECT count(*) FROM ledger_entry",
    "postings": "SELECT count(*) FROM ledger_posting",
    "accounts": "SELECT count(*) FROM ledger_account",
    "lots": "SELECT count(*) FROM ledger_lot",
    "checkpoints": "SELECT count(*) FROM ledger_checkpoint",
}

PROBLEM_SAMPLE = 20


@dataclass
class VerifyReport:
    counts: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_verify() -> VerifyReport:
    report = VerifyReport()
    with connection.cursor() as cursor:
        for name, sql in COUNTS.items():
            cursor.execute(sql)
            report.counts[name] = cursor.fetchone()[0]
        for name, sql in CHECKS.items():
            cursor.execute(sql + f" LIMIT {PROBLEM_SAMPLE}")
            rows = cursor.fetchall()
            if rows:
                report.problems[name] = [list(row) for row in rows]
    broken = []
    previous, after = "", 0
    for checkpoint in Checkpoint.objects.order_by("id"):
        digest, count = checkpoint_digest(previous=previous, after=after, upto=checkpoint.last_entry_id)
        if checkpoint.previous_digest != previous or digest != checkpoint.digest or count != checkpoint.entry_count:
            broken.append([checkpoint.pk, checkpoint.last_entry_id])
        previous, after = checkpoint.digest, checkpoint.last_entry_id
    if broken:
        report.problems["checkpoint_chain_broken"] = broken[:PROBLEM_SAMPLE]
    return report
