"""Property: khata_ledger_post_batch answers and leaves the ledger the same whether it posts a batch
set-based (the fast path) or entry by entry through khata_ledger_post.

Each example posts one logical batch twice, on two disjoint sets of fresh owners with the same
history: once as is (set-based when it qualifies) and once with an extra transfer between two
unrelated owners appended, which always sends the batch entry by entry. Every answer (posted,
refused or replayed, the accounts and the balances each entry reports), every posting, balance,
lot, lot consumption and FIFO position must match, and ledger_verify must stay clean."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.ledger.amounts import Amount, Ref
from apps.ledger.exceptions import IdempotencyKeyReused, InsufficientFunds
from apps.ledger.models import Account, Entry, Lot, LotConsumption, Posting
from apps.ledger.services import EntrySpec, Leg, PostResult, entries_post_batch, entry_post, hold_create
from apps.ledger.verify import ledger_verify
from config.errors import KhataError
from tests.factories.ledger import GRP, USD, balance, funded, key, owner, usd

pytestmark = pytest.mark.django_db
OWNERS = 4
ASSETS = (USD, GRP)
ACTOR = Ref("system", "batch-equivalence")
DEPOSITS, WITHDRAWALS = "external_deposits", "external_withdrawals"
PROMOTIONS, FEES = "equivalence_promotions", "equivalence_fees"
TAGS = ((), (("source", "gift"),), (("source", "promo"),))

who = st.integers(0, OWNERS - 1)
shift = st.integers(1, OWNERS - 1)  # another owner: (o + shift) % OWNERS
asset = st.integers(0, len(ASSETS) - 1)
count = st.integers(1, 120)
debit = st.integers(1, 60)
tag = st.integers(0, len(TAGS) - 1)


# Logical entries, posted for any set of owners. Each names the owner accounts it credits or debits.
def deposit_op(o=who):
    return st.tuples(st.just("deposit"), o, asset, count, tag)  # deposit from the outside


def award_op(o=who):
    return st.tuples(st.just("award"), o, asset, count, count)  # one system account credits o twice


def system_move_op():
    return st.tuples(st.just("system_move"), asset, count)  # between two system accounts, no owner


def replay_deposit_op(o=who):
    return st.tuples(st.just("replay_deposit"), o)  # o's first deposit of the history, sent again


def withdraw_op(o=who):
    return st.tuples(st.just("withdraw"), o, asset, debit)


def split_withdraw_op(o=who):
    return st.tuples(st.just("split_withdraw"), o, asset, debit, debit)  # two debits of o in one entry


def replay_withdrawal_op(o=who):
    return st.tuples(st.just("replay_withdrawal"), o)  # o's withdrawal of the history (maybe refused)


def reused_key_op(o=who):
    return st.tuples(st.just("reused_key"), o, debit)  # a new withdrawal under o's withdrawal's key


def joint_fee_op(o=who, other=shift):
    return st.tuples(st.just("joint_fee"), o, other, asset, debit, debit)  # two owners pay one fee


def transfer_op():
    return st.tuples(st.just("transfer"), who, shift, asset, debit)  # owner to owner: never set-based


def credit_op(o):
    return st.one_of(deposit_op(o), award_op(o), replay_deposit_op(o), system_move_op())


def debit_op(o):
    return st.one_of(withdraw_op(o), split_withdraw_op(o), replay_withdrawal_op(o), reused_key_op(o))


any_op = st.one_of(credit_op(who), debit_op(who), joint_fee_op(), transfer_op())


@st.composite
def set_based_batches(draw):
    """Batches the fast path takes: a few owners only credited (often several times), and up to two
    owners each debited by one entry only."""
    order = draw(st.permutations(range(OWNERS)))
    debited = order[: draw(st.sampled_from((1, 2, 0)))]
    credited = order[len(debited) :]
    ops = draw(st.lists(credit_op(st.sampled_from(credited)), min_size=1, max_size=6))
    ops = [op for i, op in enumerate(ops) if op[0] != "replay_deposit" or op not in ops[:i]]  # a key once
    if draw(st.booleans()):  # one owner credited by several entries, as awards to a user with several
        often = st.just(draw(st.sampled_from(credited)))
        ops.extend(draw(st.lists(st.one_of(deposit_op(often), award_op(often)), min_size=2, max_size=3)))
    if len(debited) == 2 and draw(st.booleans()):
        ops.append(draw(joint_fee_op(st.just(debited[0]), st.just((debited[1] - debited[0]) % OWNERS))))
    else:
        ops.extend(draw(debit_op(st.just(o))) for o in debited)
    return draw(st.permutations(ops))


batches = st.one_of(set_based_batches(), st.lists(any_op, min_size=2, max_size=8))

# Each owner's history before the batch: deposits in both assets (the first one replayable), a
# withdrawal (replayable, refused when too large) and a hold that keeps part of the balance pending.
histories = st.lists(
    st.fixed_dictionaries(
        {
            "deposits": st.lists(st.tuples(asset, st.integers(0, 300), tag), min_size=2, max_size=3),
            "withdrawal": st.integers(1, 120),
            "hold": st.integers(0, 40),
        }
    ),
    min_size=OWNERS,
    max_size=OWNERS,
)


def _amount(asset_index: int, unit_count: int) -> Amount:
    return Amount(*ASSETS[asset_index], unit_count)


def _spec(legs, kind: str, tags=()) -> EntrySpec:
    return EntrySpec(tuple(legs), ACTOR, Ref("equivalence", kind), key("batch-equivalence"), kind=kind, tags=tags)


def _deposit(who_: Ref, a: int, n: int, t: int) -> EntrySpec:
    legs = (Leg(_amount(a, n), owner=who_), Leg(_amount(a, -n), system=DEPOSITS))
    return _spec(legs, "deposit", TAGS[t])


def _withdrawal(who_: Ref, a: int, *counts: int) -> EntrySpec:
    legs = [Leg(_amount(a, -n), owner=who_) for n in counts] + [Leg(_amount(a, sum(counts)), system=WITHDRAWALS)]
    return _spec(legs, "withdrawal")


@dataclass
class Copy:
    """One copy of the example: its owners, the entries of their history, and a name for every entry
    the example posted (the same in both copies, unlike entry ids)."""

    owners: list[Ref]
    first_deposit: dict[int, EntrySpec] = field(default_factory=dict)
    withdrawal: dict[int, EntrySpec] = field(default_factory=dict)
    labels: dict[int, object] = field(default_factory=dict)  # entry id -> its place in the example

    def label(self, entry_id: int):
        return self.labels.get(entry_id, "elsewhere")


def _history(copy: Copy, history: list[dict]) -> None:
    for o, (person, past) in enumerate(zip(copy.owners, history, strict=True)):
        for i, (a, n, t) in enumerate(past["deposits"]):
            if n:
                spec = _deposit(person, a, n, t)
                copy.labels[entry_post(spec=spec).entry_id] = ("deposit", o, i)
                copy.first_deposit.setdefault(o, spec)
        copy.first_deposit.setdefault(o, _deposit(person, 0, 1, 0))  # a key never used: replays post it
        copy.withdrawal[o] = _withdrawal(person, 0, past["withdrawal"])
        try:
            copy.labels[entry_post(spec=copy.withdrawal[o]).entry_id] = ("withdrawal", o)
        except InsufficientFunds:
            pass
        if past["hold"] and balance(person)["available"] >= past["hold"]:
            hold_create(
                owner=person,
                actor=ACTOR,
                amount=usd(past["hold"]),
                reason=Ref("equivalence", "hold"),
                idempotency_key=key(),
            )


def _entry(op, copy: Copy) -> EntrySpec:
    name, people = op[0], copy.owners
    if name == "deposit":
        _, o, a, n, t = op
        return _deposit(people[o], a, n, t)
    if name == "award":
        _, o, a, n1, n2 = op
        legs = (Leg(_amount(a, n1), owner=people[o]), Leg(_amount(a, n2), owner=people[o]))
        return _spec((*legs, Leg(_amount(a, -n1 - n2), system=PROMOTIONS)), "award")
    if name == "system_move":
        _, a, n = op
        return _spec((Leg(_amount(a, -n), system=PROMOTIONS), Leg(_amount(a, n), system=FEES)), "move")
    if name == "replay_deposit":
        return copy.first_deposit[op[1]]
    if name == "withdraw":
        _, o, a, n = op
        return _withdrawal(people[o], a, n)
    if name == "split_withdraw":
        _, o, a, n1, n2 = op
        return _withdrawal(people[o], a, n1, n2)
    if name == "replay_withdrawal":
        return copy.withdrawal[op[1]]
    if name == "reused_key":
        _, o, n = op
        return _withdrawal(people[o], 0, n)._replace(idempotency_key=copy.withdrawal[o].idempotency_key)
    if name == "joint_fee":
        _, o, s, a, n1, n2 = op
        legs = (Leg(_amount(a, -n1), owner=people[o]), Leg(_amount(a, -n2), owner=people[(o + s) % OWNERS]))
        return _spec((*legs, Leg(_amount(a, n1 + n2), system=FEES)), "fee")
    if name == "transfer":
        _, o, s, a, n = op
        legs = (Leg(_amount(a, -n), owner=people[o]), Leg(_amount(a, n), owner=people[(o + s) % OWNERS]))
        return _spec(legs, "transfer")
    raise AssertionError(f"unknown operation {op}")


def _set_based(specs: list[EntrySpec]) -> bool:
    """Whether khata_ledger_post_batch takes its fast path for these entries (its v_fast): no key
    twice, no entry both debiting and crediting owners, no owner account debited by an entry and
    named by another."""
    keys = [(s.idempotency_key.type, s.idempotency_key.value) for s in specs]
    if len(set(keys)) < len(keys):
        return False
    entries: dict[tuple, set[int]] = defaultdict(set)
    debited: set[tuple] = set()
    for i, spec in enumerate(specs):
        owner_legs = [leg for leg in spec.legs if leg.owner is not None]
        if any(leg.amount.unit_count < 0 for leg in owner_legs) and any(
            leg.amount.unit_count > 0 for leg in owner_legs
        ):
            return False
        for leg in owner_legs:
            account = (leg.owner, leg.amount.unit_type, leg.amount.unit_token)
            entries[account].add(i)
            if leg.amount.unit_count < 0:
                debited.add(account)
    return all(len(entries[account]) == 1 for account in debited)


def _describe(specs: list[EntrySpec], answers: list) -> set[str]:
    """What the example exercised, for --hypothesis-show-statistics."""
    credits: dict[tuple, int] = defaultdict(int)
    out = set()
    for spec, answer in zip(specs, answers, strict=True):
        out.add(answer[0])
        owner_legs = [leg for leg in spec.legs if leg.owner is not None]
        if answer[0] == "posted" and any(leg.amount.unit_count < 0 for leg in owner_legs):
            out.add("an owner debit posted")
        for account in {(leg.owner, leg.amount.unit_token) for leg in owner_legs if leg.amount.unit_count > 0}:
            credits[account] += 1
    if any(n > 1 for n in credits.values()):
        out.add("an owner credited by several entries")
    return out


def _created_at_count(entry_ids: list[int]) -> int:
    """How the batch went: set-based writes all its entries with one created_at, entry by entry each its own."""
    return Entry.objects.filter(pk__in=entry_ids).values("created_at").distinct().count()


def _account_labels(copy: Copy) -> dict[int, tuple]:
    index = {(person.type, person.value): o for o, person in enumerate(copy.owners)}
    labels = {}
    named = Q(owner_id__in=[person.value for person in copy.owners]) | ~Q(system_name="")
    for account in Account.objects.filter(named).select_related("asset"):
        holder = ("owner", index.get((account.owner_type, account.owner_id)))
        if account.system_name:
            holder = ("system", account.system_name)
        labels[account.pk] = (*holder, account.asset.unit_token)
    return labels


def _answers(results, copy: Copy, accounts: dict[int, tuple]) -> list:
    out = []
    for r in results:
        if isinstance(r, PostResult) and r.replayed:
            out.append(("replayed", copy.label(r.entry_id)))
        elif isinstance(r, PostResult):
            balances = {accounts[account]: value for account, value in r.balances.items()}
            out.append(("posted", [accounts[account] for account in r.account_ids], balances))
        else:
            assert isinstance(r, KhataError), r
            out.append((type(r).__name__, str(r), getattr(r, "replayed", False)))
    return out


def _state(copy: Copy, accounts: dict[int, tuple]) -> dict:
    """Everything the batch left behind for this copy's owners, named independently of row ids."""
    state: dict = {}
    for account in Account.objects.filter(owner_id__in=[p.value for p in copy.owners], system_name=""):
        lots = list(Lot.objects.filter(account=account).order_by("id"))
        place = {lot.pk: i for i, lot in enumerate(lots)}
        consumed: dict[tuple, int] = defaultdict(int)  # entry by entry may split one leg's take in two rows
        for c in LotConsumption.objects.filter(lot__in=lots):
            consumed[(place[c.lot_id], copy.label(c.entry_id))] += c.amount
        state[accounts[account.pk]] = {
            "balance": (account.posted, account.pending),
            "lots": [(lot.amount, lot.remaining, lot.tags, copy.label(lot.entry_id)) for lot in lots],
            "consumed": dict(consumed),
            "fifo_from": sum(1 for lot in lots if lot.pk < account.fifo_from),
        }
    postings = Posting.objects.filter(entry_id__in=list(copy.labels)).order_by("id")
    state["postings"] = [(copy.label(p.entry_id), accounts[p.account_id], p.amount) for p in postings]
    return state


def _post(ops, history, *, forced: bool):
    run = uuid.uuid4().hex[:10]
    copy = Copy([Ref("user", f"eq-{run}-{o}") for o in range(OWNERS)])
    _history(copy, history)
    specs = [_entry(op, copy) for op in ops]
    if forced:
        # money between two owners the batch does not name: the batch goes entry by entry
        specs.append(_spec((Leg(usd(-1), owner=funded(1)), Leg(usd(1), owner=owner())), "transfer"))
    results = entries_post_batch(entries=specs)[: len(ops)]
    for i, r in enumerate(results):
        if isinstance(r, PostResult) and not r.replayed:
            copy.labels[r.entry_id] = ("batch", i)
    posted = [r.entry_id for r in results if isinstance(r, PostResult) and not r.replayed]
    accounts = _account_labels(copy)
    return _answers(results, copy, accounts), _state(copy, accounts), specs, posted


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=batches, history=histories)
def test_a_batch_posted_set_based_answers_and_posts_as_entry_by_entry(ops, history):
    # when the same batch is posted on two copies of the same owners: as is, and forced entry by entry
    answers, state, specs, posted = _post(ops, history, forced=False)
    forced_answers, forced_state, forced_specs, forced_posted = _post(ops, history, forced=True)

    # then the forced copy went entry by entry, and the other one set-based when it qualifies
    fast = _set_based(specs)
    assert not _set_based(forced_specs)
    event("set-based" if fast else "entry by entry")
    if len(posted) > 1:
        assert _created_at_count(posted) == (1 if fast else len(posted))
    assert _created_at_count(forced_posted) == len(forced_posted)
    # and both answered alike, entry for entry, and left the same balances, lots and postings
    assert answers == forced_answers, ops
    assert state == forced_state, ops
    for what in _describe(specs[: len(ops)], answers):
        event(f"{'set-based' if fast else 'entry by entry'}: {what}")
    report = ledger_verify()
    assert report.ok, report.problems


def test_a_set_based_batch_answers_replayed_keys_with_their_first_outcome_whatever_the_balance_now():
    # given a withdrawal of 80 out of 100 that posted (20 left), one of 50 out of 10 that was
    # refused, and one of 30 out of 40 whose key a new request now reuses (10 left)
    a, c, d, b = funded(100), funded(10), funded(40), owner()
    posted_before, refused_before, reused = _withdrawal(a, 0, 80), _withdrawal(c, 0, 50), _withdrawal(d, 0, 30)
    first = entries_post_batch(entries=[posted_before, refused_before, reused])
    assert isinstance(first[0], PostResult) and isinstance(first[1], InsufficientFunds)

    # when a set-based batch (each owner debited by one entry only, b credited) sends those keys again
    batch = [
        posted_before,
        refused_before,
        _withdrawal(d, 0, 35)._replace(idempotency_key=reused.idempotency_key),
    ]
    batch.append(_deposit(b, 0, 5, 0))
    assert _set_based(batch)
    again = entries_post_batch(entries=batch)

    # then each replays its first answer, not a refusal for the balance it sees now
    assert isinstance(again[0], PostResult) and again[0].replayed and again[0].entry_id == first[0].entry_id
    assert isinstance(again[1], InsufficientFunds) and again[1].replayed is True
    assert isinstance(again[2], IdempotencyKeyReused)
    assert isinstance(again[3], PostResult) and not again[3].replayed
    assert [balance(who)["posted"] for who in (a, c, d, b)] == [20, 10, 10, 5]
    assert ledger_verify().ok
