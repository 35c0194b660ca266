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


def _prepared_posts() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%khata_ledger_post(%'"
        )
        return cursor.fetchall()


def test_repeated_posts_reuse_one_prepared_statement():
    for n in range(3):
        _deposit(f"k{n}")

    statements = _prepared_posts()

    assert len(statements) == 1
    assert statements[0][1] == 3


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
