"""Expire points whose expiry date is before a day, now, in this process.

    python manage.py points_expire --as-of 2026-08-01 [--country SG]

Selects exactly what the monthly run selects for that day and prints `users_expired: N` and
`points_expired: N`. Running it again expires nothing more."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.points.models import Country, ExpiryRun
from apps.points.services.expiry import expiry_run_now, expiry_run_start


class Command(BaseCommand):
    help = "Expire the points of users whose expiry date is before --as-of (YYYY-MM-DD)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", required=True, help="Expire dates before this day, e.g. 2026-08-01.")
        parser.add_argument("--country", default="", help="Only users whose expiry date is this country's, e.g. SG.")

    def handle(self, *args, as_of: str, country: str, **options):
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise CommandError(f"--as-of must be a date as YYYY-MM-DD, not '{as_of}'.") from None
        scope = None
        if country:
            scope = Country.objects.filter(code=country.upper()).first()
            if scope is None:
                known = ", ".join(Country.objects.values_list("code", flat=True)) or "none configured"
                raise CommandError(f"Unknown country '{country}' (known: {known}).")
        run = expiry_run_start(as_of=day, country=scope, trigger=ExpiryRun.Trigger.COMMAND)
        totals = expiry_run_now(run=run)
        self.stdout.write(f"users_expired: {totals.users_expired}")
        self.stdout.write(f"points_expired: {totals.points_expired}")
