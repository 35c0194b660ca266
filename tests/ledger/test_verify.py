"""ledger_verify re-derives every cached figure from the postings; checkpoints chain digests of
the journal so that changing the past is detected."""

from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.ledger import checkpoints
from apps.ledger.amounts import Ref
from apps.ledger.checkpoints import checkpoint_create
from apps.ledger.models import Checkpoint, Entry, Posting
from apps.ledger.services import (
    EntrySpec,
    Leg,
    entries_post_batch,
    entry_reverse,
    hold_create,
    hold_post,
    hold_void,
    transfer,
    withdraw,
)
from apps.ledger.verify import ledger_verify
from tests.factories.ledger import funded, key, owner, points, usd


def _sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def triggers_disabled():
    """Let raw SQL change ledger rows, as an attacker with database access could."""
    _sql("SET session_replication_role = replica")
    try:
        yield
    finally:
        _sql("SET session_replication_role = origin")


def _some_activity() -> int:
    """Deposits, a withdrawal, a transfer, holds posted and voided, a reversal and a batch.
    Returns how many entries were written."""
    a = funded(1_000, tags=[("refund_policy", "no_refunds")])
    b = funded(500)
    funded(40, who=a, asset=("points", "GRP"))
    spent = withdraw(owner=a, actor=a, amount=usd(100), reason=Ref("purchase", "p1"), idempotency_key=key())
    transfer(source=a, destination=b, actor=a, amount=usd(50), reason=Ref("gift", "g1"), idempotency_key=key())
    hold, _ = hold_create(owner=b, actor=b, amount=usd(70), reason=Ref("order", "o1"), idempotency_key=key())
    hold_post(hold_id=hold.pk, actor=b, amount=60)
    hold, _ = hold_create(
        owner=a, actor=a, amount=usd(10), reason=Ref("order", "o2"), idempotency_key=key(), destination=b
    )
    hold_void(hold_id=hold.pk, actor=a)
    hold_create(owner=a, actor=a, amount=points(15), reason=Ref("order", "o3"), idempotency_key=key())
    entry_reverse(entry_id=spent.entry_id, actor=Ref("staff", "s"), reason=Ref("ticket", "t"), idempotency_key=key())
    entries_post_batch(
        entries=[
            EntrySpec((Leg(points(-5), owner=a), Leg(points(5), owner=b)), a, Ref("points_gift", str(i)), key("batch"))
            for i in range(3)
        ]
    )
    return 3 + 1 + 1 + 1 + 1 + 3


@pytest.mark.django_db
def test_ledger_verify_is_clean_after_normal_activity():
    written = _some_activity()

    report = ledger_verify()

    assert report.ok, report.problems
    assert report.problems == {}
    assert report.counts["entries"] == written == Entry.objects.count()
    assert report.counts["postings"] == Posting.objects.count()


@pytest.mark.django_db
def test_ledger_verify_command_prints_ok():
    _some_activity()
    out = StringIO()

    call_command("ledger_verify", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[-1] == "ledger_verify: OK"
    assert "unbalanced_entries: 0" in lines
    assert "checkpoint_chain_broken: 0" in lines


@pytest.mark.django_db(transaction=True)
def test_tampered_posting_amount_is_reported_and_the_command_fails():
    # given a clean ledger
    who = funded(100)
    withdraw(owner=who, actor=who, amount=usd(30), reason=Ref("purchase", "p1"), idempotency_key=key())
    assert ledger_verify().ok
    posting = Posting.objects.filter(account__owner_id=who.value, amount=-30).get()

    # when someone with database access changes a posting behind the triggers' back
    with triggers_disabled():
        _sql("UPDATE ledger_posting SET amount = -25 WHERE id = %s", [posting.pk])
    assert Posting.objects.get(pk=posting.pk).amount == -25

    # then verify reports it, and the command exits with an error
    report = ledger_verify()
    assert not report.ok
    assert {"unbalanced_entries", "asset_totals_not_zero", "owner_balance_mismatch"} <= set(report.problems)
    assert [posting.entry_id, posting.asset_id, 5] in [list(row) for row in report.problems["unbalanced_entries"]]
    out = StringIO()
    with pytest.raises(CommandError, match="MISMATCH"):
        call_command("ledger_verify", stdout=out)
    assert "unbalanced_entries: 1" in out.getvalue()
    assert "ledger_verify: OK" not in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_tampered_cached_balance_is_reported():
    who = funded(100)

    with triggers_disabled():
        _sql("UPDATE ledger_account SET posted = 90 WHERE owner_id = %s", [who.value])

    report = ledger_verify()
    assert set(report.problems) == {"owner_balance_mismatch", "lots_do_not_cover_balance"}


@pytest.mark.django_db
def test_checkpoint_leaves_entries_younger_than_the_settle_delay():
    funded(100)

    assert checkpoints.SETTLE_DELAY > timedelta(0)
    assert checkpoint_create() is None
    assert not Checkpoint.objects.exists()


@pytest.mark.django_db
def test_checkpoint_covers_settled_entries_and_the_next_one_chains_to_it(monkeypatch):
    monkeypatch.setattr(checkpoints, "SETTLE_DELAY", timedelta(0))
    # given three settled entries
    for _ in range(3):
        funded(10)
    first_ids = list(Entry.objects.order_by("id").values_list("id", flat=True))

    # when a checkpoint is taken
    first = checkpoint_create()

    # then it covers all of them and starts the chain
    assert (first.last_entry_id, first.entry_count, first.previous_digest) == (first_ids[-1], 3, "")
    assert len(first.digest) == 64
    assert checkpoint_create() is None  # nothing new to cover

    # when two more entries settle and another checkpoint is taken
    funded(5)
    funded(6)
    second = checkpoint_create()

    # then it covers only the new ones and chains to the first's digest
    assert second.previous_digest == first.digest
    assert second.entry_count == 2
    assert second.last_entry_id == Entry.objects.order_by("-id").values_list("id", flat=True)[0]
    assert second.digest != first.digest
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.counts["checkpoints"] == 2


@pytest.mark.django_db(transaction=True)
def test_tampering_an_entry_behind_a_checkpoint_breaks_the_chain():
    # given entries older than the settle delay, covered by two chained checkpoints
    who = funded(100)
    withdraw(owner=who, actor=who, amount=usd(30), reason=Ref("purchase", "p1"), idempotency_key=key())
    with triggers_disabled():
        _sql("UPDATE ledger_entry SET created_at = created_at - interval '10 minutes'")
    first = checkpoint_create()
    funded(7, who=owner())
    with triggers_disabled():
        _sql(
            "UPDATE ledger_entry SET created_at = created_at - interval '10 minutes' WHERE id > %s",
            [first.last_entry_id],
        )
    second = checkpoint_create()
    assert first is not None and second is not None
    assert second.previous_digest == first.digest
    assert ledger_verify().ok

    # when an old entry's reason is rewritten (balances stay consistent)
    oldest = Entry.objects.order_by("id").first()
    with triggers_disabled():
        _sql("UPDATE ledger_entry SET reason_token = 'rewritten' WHERE id = %s", [oldest.pk])

    # then only the checkpoint chain shows it, from the first checkpoint on
    report = ledger_verify()
    assert set(report.problems) == {"checkpoint_chain_broken"}
    assert report.problems["checkpoint_chain_broken"] == [[first.pk, first.last_entry_id]]
    with pytest.raises(CommandError):
        call_command("ledger_verify", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_tampering_a_posting_behind_a_checkpoint_breaks_the_chain(monkeypatch):
    monkeypatch.setattr(checkpoints, "SETTLE_DELAY", timedelta(0))
    a, b = funded(100), owner()
    moved = transfer(source=a, destination=b, actor=a, amount=usd(40), reason=Ref("gift", "g"), idempotency_key=key())
    checkpoint = checkpoint_create()

    # move the money to another account in both postings: balanced, but history changed
    with triggers_disabled():
        _sql("UPDATE ledger_posting SET amount = -amount WHERE entry_id = %s", [moved.entry_id])

    problems = ledger_verify().problems
    assert problems["checkpoint_chain_broken"] == [[checkpoint.pk, checkpoint.last_entry_id]]
    assert "unbalanced_entries" not in problems
