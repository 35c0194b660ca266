"""A cursor for the ledger's hot calls: the parameters travel separately from the statement
(server-side binding), so the statement can be prepared once per connection.

Django's PostgreSQL backend binds parameters on the client, so each call would send its JSON
argument inside the SQL text for the server to parse and plan again, and such statements are
never prepared. Posting calls one function with one argument, the same text every time: bound
server-side, it is prepared from its first use (DATABASE_PREPARE_THRESHOLD in config/settings.py;
empty turns preparing off, e.g. behind a transaction-pooling proxy without prepared-statement
support)."""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor


def prepared_cursor():
    """A cursor like `connection.cursor()` (health check, Django's error mapping and query
    logging) whose statements are bound server-side, and so prepared. The underlying cursor is
    kept for the connection's life, so the caller must not close the wrapper; and the thread's
    connection is looked up once (each attribute read through `django.db.connection` is a
    thread-local lookup: together they cost about a tenth of the call's client time)."""
    db = connections[DEFAULT_DB_ALIAS]
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    kept = getattr(db, "_ledger_binding_cursor", None)
    if kept is None or kept[0] is not raw or kept[1].closed:
        with db.wrap_database_errors:
            kept = (raw, ServerBindingCursor(raw))
        db._ledger_binding_cursor = kept
    return db._prepare_cursor(kept[1])
