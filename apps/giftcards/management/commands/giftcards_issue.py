"""python manage.py giftcards_issue --count N --amount 100.00 --currency USD [--expires YYYY-MM-DD]

Prints one `NUMBER PIN` line per card. This output is the only copy of the numbers and PINs.
"""

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from apps.giftcards.services import sandbox_cards_issue
from apps.ledger.amounts import Amount, micros_from_major
from config.errors import KhataError


class Command(BaseCommand):
    help = "Issue Khata (sandbox) gift cards and print each NUMBER PIN once."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--amount", required=True, help="Value of each card in major units, e.g. 100.00")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--expires", help="Last valid day, YYYY-MM-DD")

    def handle(self, *args, **options):
        try:
            micros = micros_from_major(Decimal(options["amount"]))
        except (InvalidOperation, ValueError):
            raise CommandError("--amount must be a positive decimal such as 100.00 (at most 6 decimals)") from None
        expires = None
        if options["expires"]:
            try:
                expires = date.fromisoformat(options["expires"])
            except ValueError:
                raise CommandError("--expires must be YYYY-MM-DD") from None
        try:
            cards = sandbox_cards_issue(
                count=options["count"],
                amount=Amount("currency_micros", options["currency"].upper(), micros),
                expires_on=expires,
            )
        except KhataError as exc:
            raise CommandError(exc.message) from None
        for number, pin in cards:
            self.stdout.write(f"{number} {pin}")
