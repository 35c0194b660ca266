"""The common entries (deposits, withdrawals, transfers, awards, fees) go through
khata_ledger_post_simple; everything else through khata_ledger_post. Both must answer alike and
leave the same rows.

The property posts one logical history twice, on two disjoint sets of fresh owners: once as the
service chooses, once with every entry forced through the general function. Every answer, posting,
balance, lot, lot consumption and FIFO position must match, and ledger_verify must stay clean."""

import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.ledger.amounts import Ref
from apps.ledger.exceptions import IdempotencyKeyReused, InsufficientFunds
from apps.ledger.models import Account, Entry, Lot, LotConsumption, Posting
from apps.ledger.selectors import owner_balance
from apps.ledger.services import EntrySpec, Leg, deposit, entry_post, transfer, withdraw
from apps.ledger.services import posting as posting_service
from apps.ledger.verify import ledger_verify
from config.errors import KhataError
from tests.factories.ledger import funded, key, owner, usd
from tests.factories.parallel import in_parallel
from tests.ledger.test_batch_equivalence import (
    ACTOR,
    ASSETS,
    DEPOSITS,
    FEES,
    OWNERS,
    PROMOTIONS,
    TAGS,
    WITHDRAWALS,
    Copy,
    _account_labels,
    _amount,
    _answers,
    _entry,
    _history,
    _spec,
    any_op,
    asset,
    count,
    debit,
    histories,
    shift,
    tag,
    who,
)

pytestmark = pytest.mark.django_db

# Shapes only the simple function's branches meet: a transfer whose entry has tags of its own
# (merged into the lots the money keeps), one that also pays a system account, and one that a
# system account tops up (the credit outgrows what the debit spent).
tagged_transfer = st.tuples(st.just("tagged_transfer"), who, shift, asset, debit, tag)
fee_transfer = st.tuples(st.just("fee_transfer"), who, shift, asset, debit, count)
topped_transfer = st.tuples(st.just("topped_transfer"), who, shift, asset, debit, count)
operations = st.lists(st.one_of(any_op, tagged_transfer, fee_transfer, topped_transfer), min_size=1, max_size=8)


def _simple_entry(op, copy: Copy) -> EntrySpec:
    name, people = op[0], copy.owners
    if name == "tagged_transfer":
        _, o, s, a, n, t = op
        legs = (Leg(_amount(a, -n), owner=people[o]), Leg(_amount(a, n), owner=people[(o + s) % OWNERS]))
        return _spec(legs, "transfer", TAGS[t])
    if name == "fee_transfer":
        _, o, s, a, n, fee = op
        legs = (
            Leg(_amount(a, -n - fee), owner=people[o]),
            Leg(_amount(a, n), owner=people[(o + s) % OWNERS]),
            Leg(_amount(a, fee), system=FEES),
        )
        return _spec(legs, "transfer")
    if name == "topped_transfer":
        _, o, s, a, n, bonus = op
        legs = (
            Leg(_amount(a, -bonus), system=PROMOTIONS),
            Leg(_amount(a, n + bonus), owner=people[(o + s) % OWNERS]),
            Leg(_amount(a, -n), owner=people[o]),
        )
        return _spec(legs, "transfer", TAGS[1])
    return _entry(op, copy)


def _state(copy: Copy, accounts: dict[int, tuple]) -> dict:
    """Everything the example left for this copy's owners, named independently of row ids: unlike
    the batch comparison, entry by entry on both sides, so consumption rows must match one for one."""
    state: dict = {}
    for account in Account.objects.filter(owner_id__in=[p.value for p in copy.owners], system_name=""):
        lots = list(Lot.objects.filter(account=account).order_by("id"))
        place = {lot.pk: i for i, lot in enumerate(lots)}
        sources = {lot.pk: lot for lot in Lot.objects.filter(pk__in=[x.source_lot_id for x in lots if x.source_lot_id])}
        state[accounts[account.pk]] = {
            "balance": (account.posted, account.pending),
            "lots": [
                (
                    lot.amount,
                    lot.remaining,
                    lot.tags,
                    copy.label(lot.entry_id),
                    None if lot.source_lot_id is None else (accounts[sources[lot.source_lot_id].account_id],),
                )
                for lot in lots
            ],
            "consumed": [
                (place[c.lot_id], copy.label(c.entry_id), c.amount)
                for c in LotConsumption.objects.filter(lot__in=lots).order_by("id")
            ],
            "fifo_from": sum(1 for lot in lots if lot.pk < account.fifo_from),
        }
    postings = Posting.objects.filter(entry_id__in=list(copy.labels)).order_by("id")
    state["postings"] = [(copy.label(p.entry_id), accounts[p.account_id], p.amount) for p in postings]
    entries = Entry.objects.filter(pk__in=list(copy.labels)).order_by("id")
    state["entries"] = [(copy.label(e.pk), e.kind, e.tags, e.metadata) for e in entries]
    return state


def _accounts_exist(copy: Copy) -> None:
    """Every account the example can name exists before it starts (first use always goes
    through the general function), each owner with one tagged unit of each asset."""
    for a in range(len(ASSETS)):
        for source, destination in ((DEPOSITS, WITHDRAWALS), (PROMOTIONS, FEES)):
            legs = (Leg(_amount(a, -1), system=source), Leg(_amount(a, 1), system=destination))
            entry_post(spec=_spec(legs, "setup"))
        for person in copy.owners:
            # tagged: the first lot any debit spends carries tags for an entry's own tags to join
            legs = (Leg(_amount(a, 1), owner=person), Leg(_amount(a, -1), system=DEPOSITS))
            entry_post(spec=_spec(legs, "setup", TAGS[2]))


def _record_calls(patch) -> tuple[list[str], list[str]]:
    """Record which posting function each call went to: every call, and the calls that answered
    (a call that raised, such as the simple function finding no account, is only in the first)."""
    called: list[str] = []
    answered: list[str] = []
    real = posting_service._call

    def recorded(function, argument, db=None):
        called.append(function)
        answer = real(function, argument, db)
        answered.append(function)
        return answer

    patch.setattr(posting_service, "_call", recorded)
    return called, answered


def _post(ops, history, monkeypatch, *, general: bool):
    with monkeypatch.context() as patch:
        _, calls = _record_calls(patch)
        if general:
            patch.setattr(posting_service, "simple_roles", lambda payload: None)
        copy = Copy([Ref("user", f"sp-{uuid.uuid4().hex[:10]}-{o}") for o in range(OWNERS)])
        _accounts_exist(copy)
        _history(copy, history)
        results = []
        for i, op in enumerate(ops):
            try:
                result = entry_post(spec=_simple_entry(op, copy))
            except KhataError as exc:
                result = exc
            else:
                if not result.replayed:
                    copy.labels[result.entry_id] = ("example", i)
            results.append(result)
    accounts = _account_labels(copy)
    return _answers(results, copy, accounts), _state(copy, accounts), calls


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, history=histories)
def test_the_simple_function_answers_and_posts_as_the_general_one(ops, history, monkeypatch):
    # when the same history is posted on two copies of the same owners: as the service chooses, and
    # with every entry through the general function
    answers, state, calls = _post(ops, history, monkeypatch, general=False)
    general_answers, general_state, general_calls = _post(ops, history, monkeypatch, general=True)

    # then the simple function answered some entries of one and none of the other
    assert "khata_ledger_post_simple" in calls
    assert set(general_calls) == {"khata_ledger_post"}
    event(f"simple calls: {min(calls.count('khata_ledger_post_simple'), 10)}")
    # and both answered alike and left the same entries, balances, lots and postings
    assert answers == general_answers, ops
    assert state == general_state, ops
    report = ledger_verify()
    assert report.ok, report.problems


def test_common_entries_take_the_simple_function_once_their_accounts_exist(monkeypatch):
    a, b = funded(100), funded(100)
    withdraw(owner=a, actor=a, amount=usd(1), reason=Ref("w", "0"), idempotency_key=key())  # a system account
    calls, _ = _record_calls(monkeypatch)

    transfer(source=a, destination=b, actor=ACTOR, amount=usd(30), reason=Ref("t", "1"), idempotency_key=key())
    withdraw(owner=b, actor=b, amount=usd(10), reason=Ref("w", "1"), idempotency_key=key())
    deposit(owner=a, creator=a, amount=usd(5), reason=Ref("d", "1"), idempotency_key=key())

    assert calls == ["khata_ledger_post_simple"] * 3, calls
    balances = [owner_balance(owner=x, unit_type="currency_micros", unit_token="USD")["posted"] for x in (a, b)]
    assert balances == [74, 120]


def test_a_first_deposit_falls_back_to_the_general_function_and_writes_once(monkeypatch):
    who = owner()
    calls, _ = _record_calls(monkeypatch)
    the_key = key("first")

    result = deposit(owner=who, creator=who, amount=usd(40), reason=Ref("d", "first"), idempotency_key=the_key)

    # the simple function found no account and wrote nothing; the general one created it and posted
    assert calls == ["khata_ledger_post_simple", "khata_ledger_post"]
    assert Entry.objects.filter(idempotency_type=the_key.type, idempotency_token=the_key.value).count() == 1
    assert Account.objects.filter(owner_id=who.value).count() == 1
    assert Lot.objects.get(entry_id=result.entry_id).amount == 40


def test_a_transfer_to_a_new_owner_falls_back_and_so_does_its_replay(monkeypatch):
    a, b = funded(50), owner()
    calls, answered = _record_calls(monkeypatch)
    the_key = key()

    def send():
        return transfer(
            source=a, destination=b, actor=ACTOR, amount=usd(20), reason=Ref("t", "n"), idempotency_key=the_key
        )

    first, again = send(), send()

    # the simple function stops at the missing account, then at the key taken: both write nothing
    assert calls == ["khata_ledger_post_simple", "khata_ledger_post"] * 2
    assert answered == ["khata_ledger_post", "khata_ledger_post"]
    assert again.replayed and again.entry_id == first.entry_id
    assert Entry.objects.filter(idempotency_type=the_key.type, idempotency_token=the_key.value).count() == 1
    assert owner_balance(owner=b, unit_type="currency_micros", unit_token="USD")["posted"] == 20


@pytest.mark.django_db(transaction=True)
def test_a_key_used_before_is_answered_by_the_general_function_in_its_own_transaction(monkeypatch):
    a, b = funded(50), funded(5)
    the_key = key()
    first = transfer(
        source=a, destination=b, actor=ACTOR, amount=usd(20), reason=Ref("t", "k"), idempotency_key=the_key
    )
    calls, answered = _record_calls(monkeypatch)

    again = transfer(
        source=a, destination=b, actor=ACTOR, amount=usd(20), reason=Ref("t", "k"), idempotency_key=the_key
    )
    with pytest.raises(IdempotencyKeyReused):
        transfer(source=a, destination=b, actor=ACTOR, amount=usd(21), reason=Ref("t", "k"), idempotency_key=the_key)

    assert calls == ["khata_ledger_post_simple", "khata_ledger_post"] * 2
    assert answered == ["khata_ledger_post", "khata_ledger_post"]
    assert again.replayed and again.entry_id == first.entry_id
    balances = [owner_balance(owner=x, unit_type="currency_micros", unit_token="USD")["posted"] for x in (a, b)]
    assert balances == [30, 25]


def test_a_refusal_through_the_simple_function_is_remembered_for_its_key():
    poor, rich = funded(10), funded(500)
    the_key = key()

    def send():
        return transfer(
            source=poor, destination=rich, actor=ACTOR, amount=usd(11), reason=Ref("t", "r"), idempotency_key=the_key
        )

    with pytest.raises(InsufficientFunds):
        send()
    deposit(owner=poor, creator=poor, amount=usd(100), reason=Ref("d", "top-up"), idempotency_key=key())
    with pytest.raises(InsufficientFunds) as replayed:
        send()

    assert replayed.value.replayed is True
    assert owner_balance(owner=poor, unit_type="currency_micros", unit_token="USD")["posted"] == 110


def test_system_accounts_may_go_negative_through_the_simple_function():
    who = owner()
    funded(1, who=who)  # creates the owner's account
    award = EntrySpec(
        (Leg(_amount(0, 70), owner=who), Leg(_amount(0, -70), system="simple_path_promotions_new")),
        ACTOR,
        Ref("award", "x"),
        key(),
    )

    entry_post(spec=award)  # the system account is new: created by the general function
    entry_post(spec=EntrySpec(award.legs, ACTOR, Ref("award", "y"), key()))  # then simple

    assert owner_balance(owner=who, unit_type="currency_micros", unit_token="USD")["posted"] == 141
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_parallel_first_deposits_of_one_new_owner_all_post_on_one_account():
    who = owner()

    outcomes = in_parallel(
        16,
        lambda i: deposit(owner=who, creator=who, amount=usd(i + 1), reason=Ref("d", f"p{i}"), idempotency_key=key()),
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Account.objects.filter(owner_id=who.value).count() == 1
    assert owner_balance(owner=who, unit_type="currency_micros", unit_token="USD")["posted"] == sum(range(1, 17))
    assert ledger_verify().ok
