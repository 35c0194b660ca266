"""Posting calls go to PostgreSQL as one prepared statement per connection, with their JSON
argument bound separately. A call that is its own transaction goes straight through libpq; one
inside a transaction, or while queries are logged, through a server-binding cursor. Both answer
with Django's errors and leave the connection usable."""

import json

import pytest
from django.db import DataError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.ledger.amounts import Amount, Ref
from apps.ledger.prepared import prepared_call
from apps.ledger.services import deposit
from apps.ledger.services.posting import EntrySpec, Leg, spec_argument
from tests.factories.database import from_another_connection

pytestmark = pytest.mark.django_db

USD = Amount("currency_micros", "USD", 5)


class Abandoned(Exception):
    """Raised to leave an atomic block: it rolls back."""


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


def _direct_statements() -> dict[str, tuple[str, int]]:
    """The statements the direct path prepared on this connection: name -> (text, runs)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, statement, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name LIKE 'khata_ledger_post%%'"
        )
        return {name: (statement, runs) for name, statement, runs in cursor.fetchall()}


def _balance(owner: str = "p1") -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(posted), 0) FROM ledger_account WHERE owner_id = %s", [owner])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_call_that_is_its_own_transaction_runs_one_prepared_statement():
    _deposit("d0")  # the simple call finds no account yet; the general function creates it
    for n in range(1, 4):
        _deposit(f"d{n}")

    assert _direct_statements() == {
        "khata_ledger_post_simple": ("SELECT khata_ledger_post_simple($1::jsonb)", 4),
        "khata_ledger_post": ("SELECT khata_ledger_post($1::jsonb)", 1),
    }
    assert _balance() == 20


@pytest.mark.django_db(transaction=True)
def test_the_direct_call_prepares_again_when_the_server_forgot_its_statement():
    _deposit("f0")
    _deposit("f1")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as psycopg sends after a rollback
    assert _direct_statements() == {}

    _deposit("f2")

    assert _direct_statements()["khata_ledger_post_simple"][1] == 1
    assert _balance() == 15


@pytest.mark.django_db(transaction=True)
def test_a_failed_atomic_block_takes_the_direct_statement_with_it_and_the_next_call_still_posts():
    _deposit("r0")
    _deposit("r1")
    with pytest.raises(Abandoned), transaction.atomic():
        _deposit("r2")  # through the cursor: psycopg prepares it too, then forgets all on rollback
        raise Abandoned

    _deposit("r3")

    assert _balance() == 15  # r0, r1, r3
    assert _deposit("r1").replayed


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("already_begun", [False, True], ids=["post-first-in-block", "post-after-a-query"])
def test_a_post_inside_an_atomic_block_is_part_of_its_transaction(already_begun):
    _deposit("a0")
    with pytest.raises(Abandoned), transaction.atomic():
        if already_begun:
            _balance()
        _deposit("a1")
        assert _balance() == 10  # seen inside the block
        raise Abandoned

    assert _balance() == 5  # rolled back with the block
    assert not _deposit("a1").replayed  # the key was never taken


@pytest.mark.django_db(transaction=True)
def test_a_call_that_opens_an_atomic_block_s_transaction_is_rolled_back_with_it():
    _deposit("b0")
    spec = EntrySpec(
        (Leg(USD, owner=Ref("user", "p1")), Leg(Amount("currency_micros", "USD", -5), system="external_deposits")),
        Ref("system", "test"),
        Ref("test", "prepared"),
        Ref("test", "b1"),
    )
    with pytest.raises(Abandoned), transaction.atomic():
        prepared_call("khata_ledger_post", spec_argument(spec)[1])  # the block's first statement
        raise Abandoned

    assert _balance() == 5


@pytest.mark.parametrize(
    "own_transaction",
    [
        pytest.param(False, id="in-a-transaction"),
        pytest.param(True, id="own-transaction", marks=pytest.mark.django_db(transaction=True)),
    ],
)
def test_a_database_error_in_the_call_is_django_s_error(own_transaction, monkeypatch):
    from apps.ledger.services import posting

    real = posting._call

    def with_bad_argument(function, argument, db=None):
        payload = json.loads(argument)
        payload["postings"][0]["amount"] = "ten"  # not a number: the function fails on it
        return real(function, json.dumps(payload), db)

    _deposit("ok")
    monkeypatch.setattr(posting, "_call", with_bad_argument)
    with pytest.raises(DataError) as raised:
        _deposit("bad")
    monkeypatch.undo()

    assert raised.value.__cause__.sqlstate == "22P02"  # invalid_text_representation, from psycopg

    assert _deposit("good").entry_id  # the connection is still usable


def _deposit_in_transaction(token: str):
    with transaction.atomic():
        _balance()
        return _deposit(token)


@pytest.mark.django_db(transaction=True)
def test_the_binding_cursor_lives_as_long_as_its_connection():
    _deposit_in_transaction("c1")
    kept = connection._ledger_binding_cursor[1]
    _deposit_in_transaction("c2")
    assert connection._ledger_binding_cursor[1] is kept  # not closed by the call: reused

    connection.close()
    _deposit_in_transaction("c3")  # a new connection, so a new cursor on it

    assert connection._ledger_binding_cursor[1] is not kept
    assert kept.connection.closed  # the old one went with its connection
    assert _prepared_posts()["khata_ledger_post_simple"] == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_is_an_operational_error_and_the_next_request_reconnects():
    _deposit("l0")
    _deposit("l1")
    from_another_connection("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])

    with pytest.raises(OperationalError, match="closed the connection"):
        _deposit("l2")
    connection.close_if_unusable_or_obsolete()  # as at the end of a request or task

    assert not _deposit("l2").replayed
    assert _balance() == 15
