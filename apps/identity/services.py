from datetime import datetime

from django.db import transaction
from knox.models import AuthToken

from apps.identity.exceptions import ExternalIdTaken, UnknownScope
from apps.identity.models import ApiClient, User
from apps.identity.scopes import scopes_unknown


@transaction.atomic
def api_client_create(
    *, name: str, scopes: list[str], description: str = "", expires_at: datetime | None = None
) -> tuple[ApiClient, str]:
    """Create an API client; returns it with the raw key, which is never stored."""
    unknown = scopes_unknown(scopes)
    if unknown:
        raise UnknownScope(f"Unknown scope(s): {', '.join(unknown)}.", fields={"scopes": unknown})
    client, raw_key = ApiClient.objects.create_key(
        name=name, scopes=sorted(set(scopes)), description=description, expiry_date=expires_at
    )
    return client, raw_key


@transaction.atomic
def api_client_revoke(*, client: ApiClient) -> None:
    client.revoked = True
    client.save(update_fields=["revoked"])


@transaction.atomic
def user_find_or_create(
    *, username: str, external_id: str | None = None, country: str = "", password: str | None = None
) -> tuple[User, bool]:
    """Find an end user by username, or create them. Fills external_id and country if missing."""
    user = User.objects.select_for_update().filter(username=username).first()
    if external_id:
        owner = User.objects.filter(external_id=external_id).exclude(username=username).first()
        if owner is not None:
            raise ExternalIdTaken(fields={"external_id": [f"Already used by user {owner.pk}."]})
    created = user is None
    if created:
        user = User(username=username, external_id=external_id or None, country=country.upper())
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        return user, True
    changed: list[str] = []
    if external_id and user.external_id != external_id:
        if user.external_id:
            raise ExternalIdTaken(
                "This user already has another external id.", fields={"external_id": [user.external_id]}
            )
        user.external_id = external_id
        changed.append("external_id")
    if country and user.country != country.upper():
        user.country = country.upper()
        changed.append("country")
    if password:
        user.set_password(password)
        changed.append("password")
    if changed:
        user.full_clean(exclude=["password"])
        user.save(update_fields=changed)
    return user, False


def user_token_issue(*, user: User, expires: bool = True) -> str:
    """Issue a new end-user token; only its hash is stored. Returns the raw token."""
    if expires:
        _, token = AuthToken.objects.create(user=user)
    else:
        _, token = AuthToken.objects.create(user=user, expiry=None)
    return token


UPSERTABLE_FIELDS = ("country", "language", "first_name", "last_name", "is_employee")


@transaction.atomic
def user_upsert_from_platform(*, external_id: str, fields: dict, occurred_at=None) -> tuple[User, bool]:
    """Create or update the end user the platform knows as `external_id`. Events can arrive out
    of order (retries, parallel workers): one older than the last applied is ignored."""
    values = {key: value for key, value in fields.items() if key in UPSERTABLE_FIELDS}
    user, created = User.objects.select_for_update().get_or_create(
        external_id=external_id,
        defaults={"username": f"ext-{external_id}", "platform_updated_at": occurred_at, **values},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user, True
    if occurred_at is not None and user.platform_updated_at is not None and occurred_at < user.platform_updated_at:
        return user, False
    if occurred_at is not None:
        values["platform_updated_at"] = occurred_at
    changed = [key for key, value in values.items() if getattr(user, key) != value]
    for key in changed:
        setattr(user, key, values[key])
    if changed:
        user.save(update_fields=changed)
    return user, False
