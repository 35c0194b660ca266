from django.core.management.base import BaseCommand, CommandError

from apps.identity.scopes import SCOPES
from apps.identity.services import api_client_create
from config.errors import KhataError


class Command(BaseCommand):
    help = "Create an API client for a platform service or partner. The raw key is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", required=True, help=f"Comma-separated; known: {', '.join(SCOPES)}")
        parser.add_argument("--description", default="")

    def handle(self, *args, name, scopes, description, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        if not scope_list:
            raise CommandError("--scopes needs at least one scope")
        try:
            client, raw_key = api_client_create(name=name, scopes=scope_list, description=description)
        except KhataError as exc:
            raise CommandError(f"{exc.message} Known scopes: {', '.join(SCOPES)}") from None
        self.stdout.write(f"API client {client.name} (prefix {client.prefix}) scopes: {','.join(client.scopes)}")
        self.stdout.write("The key is shown once; store it now.")
        self.stdout.write(raw_key)
