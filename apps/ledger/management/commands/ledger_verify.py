from django.core.management.base import BaseCommand, CommandError

from apps.ledger.verify import CHECKS, ledger_verify


class Command(BaseCommand):
    help = "Re-derive balances, lots and the checkpoint chain from the postings; exit 1 on any mismatch."

    def handle(self, *args, **options):
        report = ledger_verify()
        for name, value in report.counts.items():
            self.stdout.write(f"{name}: {value}")
        for name in [*CHECKS, "checkpoint_chain_broken"]:
            rows = report.problems.get(name, [])
            self.stdout.write(f"{name}: {len(rows)}" + (f"  e.g. {rows[:3]}" if rows else ""))
        if not report.ok:
            raise CommandError("ledger_verify: MISMATCH")
        self.stdout.write("ledger_verify: OK")
