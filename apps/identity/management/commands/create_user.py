from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.identity.services import user_find_or_create, user_token_issue
from config.errors import KhataError


class Command(BaseCommand):
    help = "Create (or find) an end user and print a new API token for them alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--external-id", dest="external_id")
        parser.add_argument("--country", default="")
        parser.add_argument("--password")

    def handle(self, *args, username, external_id, country, password, **options):
        try:
            user, created = user_find_or_create(
                username=username, external_id=external_id, country=country, password=password
            )
        except KhataError as exc:
            raise CommandError(f"{exc.message} {exc.fields}") from None
        except ValidationError as exc:  # e.g. a country that is not two letters
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        token = user_token_issue(user=user, expires=False)
        self.stdout.write(
            f"{'Created' if created else 'Found'} user {user.username} (id {user.pk}, external id {user.external_id or '-'})"
        )
        self.stdout.write(token)
