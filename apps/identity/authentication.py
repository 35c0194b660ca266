"""How callers prove who they are.

- Platform services and partners: `Authorization: Api-Key <key>` -> request.auth is the
  ApiClient, request.user stays anonymous (a service is not a person).
- End users: `Authorization: Token <token>` (hashed tokens) or a browser session.
"""

from datetime import timedelta
from functools import cache

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import authentication, exceptions

from apps.identity.models import ApiClient

# Writing last_used_at on every request would make each client's row a hot spot.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Api-Key header: expected 'Api-Key <key>'.")
        try:
            client = _client_for_key(header[1].decode())
        except UnicodeError:
            client = None
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if client.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            client.last_used_at = now
        return AnonymousUser(), client

    def authenticate_header(self, request):
        return self.keyword


def _client_for_key(key: str) -> ApiClient | None:
    """The unrevoked client whose key this is: one lookup by the key's prefix, then the hash check
    (the same rows and check as rest_framework_api_key's get_from_key). Every service call makes
    it, so the row is read with a plain cursor and built with Model.from_db: a built ORM query, or
    a raw queryset, cost more Python than the rest of the authentication."""
    prefix = key.partition(".")[0]
    attnames, sql = _client_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    client = ApiClient.from_db(connection.alias, attnames, row)
    return client if client.is_valid(key) else None


@cache
def _client_query() -> tuple[list[str], str]:
    fields = ApiClient._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(ApiClient._meta.db_table)
    # columns and table come from the model's meta, quoted
    return [f.attname for f in fields], f"SELECT {columns} FROM {table} WHERE prefix = %s AND NOT revoked"  # noqa: S608


class UserTokenAuthentication(TokenAuthentication):
    """Hashed, expiring end-user tokens (`Authorization: Token <token>`)."""
