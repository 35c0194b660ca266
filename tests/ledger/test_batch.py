"""entries_post_batch: many entries in one transaction and one round trip, each answering on its own."""

import pytest

from apps.ledger.amounts import Ref
from apps.ledger.exceptions import IdempotencyKeyReused, InsufficientFunds
from apps.ledger.models import Entry, Lot, Operation
from apps.ledger.services import EntrySpec, Leg, PostResult, entries_post_batch
from apps.ledger.verify import ledger_verify
from tests.factories.ledger import balance, funded, key, owner, usd

pytestmark = pytest.mark.django_db
SYSTEM = Ref("system", "batch-test")


def _deposit_spec(who: Ref, count: int) -> EntrySpec:
    return EntrySpec(
        (Leg(usd(count), owner=who), Leg(usd(-count), system="external_deposits")),
        SYSTEM,
        Ref("payroll", key().value),
        key("batch"),
        kind="deposit",
    )


def _transfer_spec(source: Ref, destination: Ref, count: int, idempotency_key: Ref | None = None) -> EntrySpec:
    return EntrySpec(
        (Leg(usd(-count), owner=source), Leg(usd(count), owner=destination)),
        SYSTEM,
        Ref("settlement", key().value),
        idempotency_key or key("batch"),
        kind="transfer",
    )


def test_batch_posts_many_entries_in_one_call():
    people = [owner() for _ in range(6)]
    before = Entry.objects.count()

    results = entries_post_batch(entries=[_deposit_spec(who, 10 * (i + 1)) for i, who in enumerate(people)])

    assert all(isinstance(r, PostResult) and not r.replayed for r in results), results
    assert len({r.entry_id for r in results}) == 6
    assert Entry.objects.count() == before + 6
    assert [balance(who)["posted"] for who in people] == [10, 20, 30, 40, 50, 60]
    # each result carries the owner's new balance
    assert [list(r.balances.values()) for r in results] == [[(10 * (i + 1), 0)] for i in range(6)]
    assert ledger_verify().ok


def test_later_entries_in_a_batch_can_spend_what_earlier_ones_brought_in():
    a, b = owner(), owner()

    results = entries_post_batch(entries=[_deposit_spec(a, 50), _transfer_spec(a, b, 50)])

    assert all(isinstance(r, PostResult) for r in results)
    assert (balance(a)["posted"], balance(b)["posted"]) == (0, 50)


def test_refused_entry_in_a_batch_answers_insufficient_funds_and_the_others_still_post():
    # given a with 100
    a, b, c = funded(100), owner(), owner()
    refused_key = key("batch")
    before = Entry.objects.count()

    # when a batch asks for a transfer a cannot afford between two that it can
    results = entries_post_batch(
        entries=[
            _transfer_spec(a, b, 30),
            _transfer_spec(a, c, 500, idempotency_key=refused_key),
            _transfer_spec(a, c, 20),
        ]
    )

    # then the middle slot holds the refusal and the others posted
    assert isinstance(results[0], PostResult) and isinstance(results[2], PostResult)
    assert isinstance(results[1], InsufficientFunds)
    assert results[1].code == "insufficient_funds"
    assert not getattr(results[1], "replayed", False)
    assert Entry.objects.count() == before + 2
    assert (balance(a)["posted"], balance(b)["posted"], balance(c)["posted"]) == (50, 30, 20)
    assert Operation.objects.get(idempotency_token=refused_key.value).status == "refused"
    assert ledger_verify().ok


def test_replaying_the_same_batch_returns_replayed_results_and_posts_nothing_new():
    # given a batch that was posted once, with one refusal in it
    a, b = funded(100), owner()
    batch = [_transfer_spec(a, b, 30), _transfer_spec(a, b, 500), _deposit_spec(b, 5)]
    first = entries_post_batch(entries=batch)
    entries = Entry.objects.count()

    # when the same batch is sent again
    again = entries_post_batch(entries=batch)

    # then every slot replays its first answer and nothing moves
    assert [r.entry_id for r in (again[0], again[2])] == [first[0].entry_id, first[2].entry_id]
    assert again[0].replayed and again[2].replayed
    assert isinstance(again[1], InsufficientFunds) and again[1].replayed is True
    assert Entry.objects.count() == entries
    assert (balance(a)["posted"], balance(b)["posted"]) == (70, 35)


def test_a_batch_entry_reusing_a_key_for_a_different_request_is_refused_in_its_slot():
    a, b = funded(100), owner()
    reused = key("batch")
    entries_post_batch(entries=[_transfer_spec(a, b, 30, idempotency_key=reused)])

    results = entries_post_batch(entries=[_transfer_spec(a, b, 31, idempotency_key=reused), _deposit_spec(b, 1)])

    assert isinstance(results[0], IdempotencyKeyReused)
    assert isinstance(results[1], PostResult) and not results[1].replayed
    assert balance(b)["posted"] == 31


def test_an_owner_credited_by_several_entries_gets_each_entrys_own_balance_as_entry_by_entry():
    # given two batches of the same deposits to a and b: the first of credits only (set-based),
    # the second with a transfer added, which makes it post entry by entry
    a, b, a2, b2 = owner(), owner(), owner(), owner()
    payer, payee = funded(5), owner()
    amounts = [(0, 10), (1, 5), (0, 20), (0, 30)]

    credits_only = entries_post_batch(entries=[_deposit_spec((a, b)[who], count) for who, count in amounts])
    mixed = entries_post_batch(
        entries=[_deposit_spec((a2, b2)[who], count) for who, count in amounts] + [_transfer_spec(payer, payee, 5)]
    )

    # then both answer alike: each entry reports the balance right after it
    def reported(results):
        return [next(iter(r.balances.values())) for r in results[:4]]

    assert reported(credits_only) == reported(mixed) == [(10, 0), (5, 0), (30, 0), (60, 0)]
    assert (balance(a)["posted"], balance(b)["posted"]) == (balance(a2)["posted"], balance(b2)["posted"]) == (60, 5)
    # one lot per credit, as entry by entry
    assert Lot.objects.filter(account__owner_id=a.value).count() == 3
    assert Lot.objects.filter(account__owner_id=a2.value).count() == 3
    assert ledger_verify().ok
