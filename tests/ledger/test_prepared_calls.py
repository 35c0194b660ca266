"""Posting calls go to PostgreSQL as one prepared statement per connection, with their JSON
argument bound separately; Django's error mapping and query log still see them."""

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext

from apps.ledger.amounts import Amount, Ref
from apps.ledger.services import deposit

pytestmark = pytest.mark.django_db

USD = Amount("currency_micros", "USD", 5)


def _deposit(token: str, amount: Amount = USD):
    return deposit(
        owner=Ref("user", "p1"),
        creator=Ref("system", "test"),
        amount=amount,
        reason=Ref("test", "prepared"),
        idempotency_key=Ref("test", token),
    )


def _prepared_posts() -> dict[str, tuple[int, int]]:
    """Each posting function -> (its prepared statements on this connection, how often they ran).
    A statement whose first run failed (a first deposit's simple call finds no account) stays
    on the server while psycopg prepares it again, so a function may have two."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substring(statement from 'khata_ledger_post[a-z_]*'), count(*), sum(generic_plans + custom_plans)"
            " FROM pg_prepared_statements WHERE statement LIKE '%khata_ledger_post%' GROUP BY 1"
        )
        return {function: (statements, runs) for function, statements, runs in cursor.fetchall()}


def test_repeated_posts_reuse_one_prepared_statement():
    _deposit("k0")  # the owner's first deposit: the general function creates the account
    _deposit("k1")
    before = _prepared_posts()

    for n in range(2, 5):
        _deposit(f"k{n}")

    # no statement prepared again: the simple function's ran three more times
    after = _prepared_posts()
    assert set(after) == {"khata_ledger_post_simple", "khata_ledger_post"}
    assert after["khata_ledger_post_simple"][0] == before["khata_ledger_post_simple"][0]
    assert after["khata_ledger_post_simple"][1] - before["khata_ledger_post_simple"][1] == 3
    assert after["khata_ledger_post"] == before["khata_ledger_post"]


def test_posting_calls_are_counted_in_the_query_log():
    _deposit("first")  # prepares the statement

    with CaptureQueriesContext(connection) as queries:
        _deposit("second")

    # the savepoint around the call (the test runs in a transaction), the call, the release
    assert len(queries.captured_queries) == 3


def test_a_database_error_in_the_call_is_django_s_error(monkeypatch):
    from apps.ledger.services import posting

    real = posting._call

    def with_bad_argument(function, argument):
        argument["postings"][0]["amount"] = "ten"  # not a number: the function fails on it
        return real(function, argument)

    monkeypatch.setattr(posting, "_call", with_bad_argument)
    with pytest.raises(DataError):
        _deposit("bad")
    monkeypatch.undo()

    assert _deposit("good").entry_id  # the connection is still usable


@pytest.mark.django_db(transaction=True)
def test_the_binding_cursor_lives_as_long_as_its_connection():
    _deposit("c1")
    kept = connection._ledger_binding_cursor[1]
    _deposit("c2")
    assert connection._ledger_binding_cursor[1] is kept  # not closed by the call: reused

    connection.close()
    _deposit("c3")  # a new connection, so a new cursor on it

    assert connection._ledger_binding_cursor[1] is not kept
    assert kept.connection.closed  # the old one went with its connection
    assert _prepared_posts()["khata_ledger_post_simple"] == (1, 1)
