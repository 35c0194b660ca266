"""A cursor for the ledger's hot calls: the parameters travel separately from the statement
(server-side binding), so the statement can be prepared once per connection.

Django's PostgreSQL backend binds parameters on the client, so each call would send its JSON
argument inside the SQL text for the server to parse and plan again, and such statements are
never prepared. Posting calls one function with one argument, the same text every time: bound
server-side, it is prepared from its first use (DATABASE_PREPARE_THRESHOLD in config/settings.py;
empty turns preparing off, e.g. behind a transaction-pooling proxy without prepared-statement
support)."""

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


def prepared_cursor():
    """A cursor like `connection.cursor()` (health check, Django's error mapping and query
    logging) whose statements are bound server-side, and so prepared."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))
