"""The ledger's hot calls: `SELECT <function>($1::jsonb)` with the JSON argument sent apart from
the statement and the statement prepared once per connection.

Django's PostgreSQL backend binds parameters on the client, so each call would send its JSON
argument inside the SQL text for the server to parse and plan again, and such statements are
never prepared. Posting calls one function with one argument, the same text every time, so it is
prepared from its first use (DATABASE_PREPARE_THRESHOLD in config/settings.py; empty turns
preparing off, e.g. behind a transaction-pooling proxy without prepared-statement support).

Two ways to send it, with the same answers and errors:
- Directly through libpq (`PQexecPrepared`), when the call is its own transaction (autocommit,
  outside any atomic block): the hot path of transfers, deposits and API writes. Going through a
  cursor costs more client time than the rest of a transfer's Python together.
- Through a server-binding cursor otherwise: inside a transaction (psycopg sends BEGIN and keeps
  the transaction's state), when the queries are logged (DEBUG, tests capturing queries) or
  wrapped (`connection.execute_wrapper`), and when preparing is off.
psycopg forgets the connection's prepared statements on a rollback (it sends DEALLOCATE ALL), so
the direct path prepares its statement again when the server no longer has it."""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor
from psycopg import errors, pq

_ANSWERED = frozenset((pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK))
STATEMENT_MISSING = b"26000"  # invalid_sql_statement_name


def prepared_call(function: str, argument: str, db=None) -> str | bytes:
    """Run `SELECT function(argument::jsonb)` on `db` (the default database's connection unless
    given) and return its answer as JSON text. Database errors are Django's (django.db.DataError,
    IntegrityError, ...) with psycopg's error as the cause."""
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    if _direct(db, raw):
        return _exec_prepared(db, raw, function, argument)
    cursor = _binding_cursor(db, raw)  # kept open for the connection's next call
    cursor.execute(f"SELECT {function}(%s::jsonb)", [argument])
    return cursor.fetchone()[0]


def _direct(db, raw) -> bool:
    return (
        raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
        and raw.autocommit
        and raw.prepare_threshold is not None
        and not db.execute_wrappers
        and not db.queries_logged
    )


def _exec_prepared(db, raw, function: str, argument: str) -> bytes:
    """The call as one PQexecPrepared, its statement prepared on first use. Called only outside
    a transaction, so a statement the server lost (26000) fails before anything ran: prepared
    again, the call is sent again."""
    kept = getattr(db, "_ledger_prepared", None)
    if kept is None or kept[0] is not raw:
        kept = db._ledger_prepared = (raw, set())
    name = function.encode()
    pgconn = raw.pgconn
    with db.wrap_database_errors:
        for _ in range(2):
            if name not in kept[1]:
                _answer(raw, pgconn.prepare(name, f"SELECT {function}($1::jsonb)".encode()))
                kept[1].add(name)
            result = pgconn.exec_prepared(name, [argument.encode()])
            if result.error_field(pq.DiagnosticField.SQLSTATE) != STATEMENT_MISSING:
                break
            kept[1].clear()  # DEALLOCATE ALL: none of ours is left
        return _answer(raw, result).get_value(0, 0)


def _answer(raw, result):
    if result.status not in _ANSWERED:
        if raw.pgconn.status == pq.ConnStatus.BAD:  # the connection is lost: as psycopg reports it
            raise errors.OperationalError(result.error_message.decode(raw.info.encoding, "replace").strip())
        raise errors.error_from_result(result, encoding=raw.info.encoding)
    return result


def _binding_cursor(db, raw):
    """A cursor like `connection.cursor()` (Django's error mapping and query logging) whose
    statements are bound server-side. The underlying cursor is kept for the connection's life,
    so the caller must not close the wrapper."""
    kept = getattr(db, "_ledger_binding_cursor", None)
    if kept is None or kept[0] is not raw or kept[1].closed:
        with db.wrap_database_errors:
            kept = (raw, ServerBindingCursor(raw))
        db._ledger_binding_cursor = kept
    return db._prepare_cursor(kept[1])
