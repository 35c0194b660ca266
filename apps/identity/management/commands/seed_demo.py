from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Load demo data idempotently: each Khata app's demo.demo_seed(), in INSTALLED_APPS order."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with KHATA_ENV=production")
        for config in apps.get_app_configs():
            if not config.name.startswith("apps.") or find_spec(f"{config.name}.demo") is None:
                continue
            for line in import_module(f"{config.name}.demo").demo_seed():
                self.stdout.write(line)
