"""khata_ledger_post_simple updates the owner accounts it locked by the row version its lock
returned (their ctid, not a second index lookup). A transfer that waited for another
transaction's change of its account must still post on the account as that transaction left it;
a key taken meanwhile must still be answered as before."""

import threading
import time

import psycopg
import pytest
from django.db import connection

from apps.ledger.amounts import Ref
from apps.ledger.models import Account, Entry, Operation
from apps.ledger.services import transfer
from apps.ledger.verify import ledger_verify
from tests.factories.ledger import balance, funded, key, usd

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Ref("system", "t")


def _held_open():
    """A second connection whose transaction stays open until the test commits it."""
    conninfo = connection.get_connection_params()
    conninfo.pop("context", None)
    conninfo.pop("cursor_factory", None)
    return psycopg.connect(**conninfo)


def _in_background(action) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = action()
        except Exception as exc:  # asserted by the test
            outcome["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def _wait_for_a_lock_wait(other) -> None:
    for _ in range(400):
        if other.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
            return
        time.sleep(0.025)
    raise AssertionError("the transfer never waited for the lock")


def test_a_transfer_that_waited_for_its_account_posts_on_the_row_as_it_was_left():
    a, b = funded(100), funded(100)
    account = Account.objects.get(owner_type=a.type, owner_id=a.value, system_name="")

    with _held_open() as other:
        # given another transaction that wrote a new version of the debited account and holds it
        other.execute("UPDATE ledger_account SET posted = posted WHERE id = %s", [account.pk])
        # when a transfer from it waits for that transaction, which then commits
        worker, outcome = _in_background(
            lambda: transfer(
                source=a, destination=b, actor=ACTOR, amount=usd(30), reason=Ref("t", "w"), idempotency_key=key()
            )
        )
        _wait_for_a_lock_wait(other)
        other.commit()
        worker.join(30)

    # then it posted on the account's latest version: balances and postings agree
    assert "error" not in outcome, outcome
    assert outcome["result"].balances[account.pk] == (70, 0)
    assert [balance(x)["posted"] for x in (a, b)] == [70, 130]
    assert ledger_verify().ok


def test_a_key_claimed_while_a_transfer_runs_is_answered_as_the_first_request():
    a, b = funded(100), funded(100)
    the_key = key()
    first = transfer(source=a, destination=b, actor=ACTOR, amount=usd(10), reason=Ref("t", "k"), idempotency_key=key())
    claimed = Operation.objects.get(entry_id=first.entry_id)

    with _held_open() as other:
        # given another transaction that took the key (uncommitted) for the same request
        other.execute(
            "INSERT INTO ledger_operation (idempotency_type, idempotency_token, request_hash, status, error_code,"
            " error_message, created_at, entry_id) VALUES (%s, %s, %s, 'succeeded', '', '', now(), %s)",
            [the_key.type, the_key.value, claimed.request_hash, first.entry_id],
        )
        # when the same key is posted meanwhile, and the other transaction commits
        worker, outcome = _in_background(
            lambda: transfer(
                source=a, destination=b, actor=ACTOR, amount=usd(10), reason=Ref("t", "k"), idempotency_key=the_key
            )
        )
        _wait_for_a_lock_wait(other)
        other.commit()
        worker.join(30)

    # then it is a replay of what the key's holder recorded, and nothing more was written
    assert "error" not in outcome, outcome
    assert outcome["result"].replayed and outcome["result"].entry_id == first.entry_id
    assert not Entry.objects.filter(idempotency_type=the_key.type, idempotency_token=the_key.value).exists()
    assert [balance(x)["posted"] for x in (a, b)] == [90, 110]
    assert ledger_verify().ok
