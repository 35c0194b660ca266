"""Demo data for a development machine: known logins and keys, created idempotently."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework_api_key.crypto import KeyGenerator

from apps.identity.models import ApiClient, User
from apps.identity.roles import roles_sync
from apps.identity.scopes import SCOPES

DEMO_PASSWORD = "khata-demo-2026"
DEMO_STAFF = (
    ("admin", None),
    ("marketing", "Marketing"),
    ("finance", "Finance"),
    ("support", "Support"),
)
DEMO_USERS = (
    # username, external id, country
    ("bob", "bob", "SG"),
    ("jane", "jane", "ID"),
)
DEMO_API_KEY = "khatdemo.platform-service-demo-key-0001"
# knox tokens are 64 hex characters; these are fixed so a demo script can rely on them.
DEMO_USER_TOKENS = {
    "bob": "b0b0" + "0" * 56 + "d3m0",
    "jane": "1a4e" + "0" * 56 + "d3m0",
}


class DemoRefused(RuntimeError):
    pass


@transaction.atomic
def demo_seed() -> list[str]:
    """Staff logins (one per role), end users with tokens, and a platform API key."""
    if settings.PRODUCTION:
        raise DemoRefused("seed_demo refuses to run with KHATA_ENV=production")
    roles_sync()
    staff = []
    for username, role in DEMO_STAFF:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": role is None}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role:
            user.groups.set([Group.objects.get(name=role)])
        staff.append((username, role or "superuser"))

    users = []
    for username, external_id, country in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"external_id": external_id, "country": country}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        token = DEMO_USER_TOKENS[username]
        AuthToken.objects.get_or_create(
            token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH],
            defaults={"user": user, "digest": hash_token(token), "expiry": None},
        )
        users.append((username, external_id, country, token))

    prefix = DEMO_API_KEY.partition(".")[0]
    client = ApiClient.objects.filter(prefix=prefix).first()
    if client is None:
        hashed = KeyGenerator().hash(DEMO_API_KEY)
        ApiClient.objects.create(
            id=f"{prefix}.{hashed}",
            prefix=prefix,
            hashed_key=hashed,
            name="demo platform service",
            scopes=sorted(SCOPES),
            description="Demo key with every scope (development only).",
        )
    lines = [f"staff login  {u} / {DEMO_PASSWORD}  ({role})" for u, role in staff]
    lines += [f"end user     {u} (externalId {ext}, {cc})  Authorization: Token {tok}" for u, ext, cc, tok in users]
    lines.append(f"service key  Authorization: Api-Key {DEMO_API_KEY}  (scopes: all)")
    return lines
