"""A cursor for the ledger's hot calls: the parameters travel separately from the statement
(server-side binding) and the statement is prepared once per connection.

Django's PostgreSQL backend binds parameters on the client, so each call would send its JSON
argument inside the SQL text for the server to parse and plan again. Posting calls one function
with one argument, the same text every time: a prepared statement skips the parse and the plan.
(Prepared statements stay on their connection: a transaction-pooling proxy in front of
PostgreSQL would need its prepared-statement support turned on.)"""

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


class _PreparedCursor(ServerBindingCursor):
    def execute(self, query, params=None, *, prepare=None, binary=None):  # noqa: ARG002 - always prepared
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_cursor():
    """A cursor like `connection.cursor()` (health check, Django's error mapping and query
    logging) whose statements are bound server-side and prepared."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_PreparedCursor(connection.connection))
