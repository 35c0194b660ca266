"""Property: whatever sequence of movements happens, the ledger stays consistent (ledger_verify),
no owner's available balance goes below zero, and every answer and balance matches a simple model."""

import uuid
from dataclasses import dataclass, field

import pytest
from django.db.models import F
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.ledger.amounts import Amount, Ref
from apps.ledger.exceptions import AlreadyReversed, HoldNotPending, InsufficientFunds, NotReversible
from apps.ledger.models import Account
from apps.ledger.services import (
    EntrySpec,
    Leg,
    deposit,
    entry_post,
    entry_reverse,
    hold_create,
    hold_post,
    hold_void,
    transfer,
    withdraw,
)
from apps.ledger.verify import ledger_verify
from config.errors import InvalidInput
from tests.factories.ledger import GRP, USD, balance, funded, key, usd

pytestmark = pytest.mark.django_db
OWNERS = 4
ASSETS = (USD, GRP)
REFUSALS = (InsufficientFunds, HoldNotPending, AlreadyReversed, NotReversible)
ACTOR = Ref("system", "property")
STARTING_BALANCE = 200

who = st.integers(0, OWNERS - 1)
asset = st.integers(0, len(ASSETS) - 1)
count = st.integers(1, 150)
pick = st.integers(0, 10_000)  # which earlier hold or entry, modulo how many there are

operations = st.one_of(
    st.tuples(st.just("deposit"), who, asset, count),
    st.tuples(st.just("withdraw"), who, asset, count),
    st.tuples(st.just("transfer"), who, st.integers(1, OWNERS - 1), asset, count),
    st.tuples(st.just("hold_create"), who, st.none() | who, asset, count),
    st.tuples(st.just("hold_post"), pick, st.none() | st.integers(1, 150)),
    st.tuples(st.just("hold_void"), pick),
    st.tuples(st.just("entry_reverse"), pick),
)


@dataclass
class ModelHold:
    hold_id: int
    owner: int
    destination: int | None
    asset: int
    amount: int
    status: str = "pending"
    posted_amount: int | None = None


@dataclass
class ModelEntry:
    entry_id: int
    deltas: dict  # (owner, asset) -> signed amount on that owner's account
    is_reversal: bool = False
    reversed: bool = False


@dataclass
class Model:
    posted: dict = field(default_factory=dict)
    holds: list = field(default_factory=list)
    entries: list = field(default_factory=list)

    def pending(self, owner: int, asset_index: int) -> int:
        return sum(h.amount for h in self.holds if h.status == "pending" and (h.owner, h.asset) == (owner, asset_index))

    def available(self, owner: int, asset_index: int) -> int:
        return self.posted.get((owner, asset_index), 0) - self.pending(owner, asset_index)

    def apply(self, entry_id: int, deltas: dict, *, is_reversal: bool = False) -> ModelEntry:
        for account, delta in deltas.items():
            self.posted[account] = self.posted.get(account, 0) + delta
        entry = ModelEntry(entry_id, deltas, is_reversal)
        self.entries.append(entry)
        return entry


def _amount(asset_index: int, unit_count: int) -> Amount:
    return Amount(*ASSETS[asset_index], unit_count)


def _net(*legs) -> dict:
    deltas: dict = {}
    for account, delta in legs:
        if account is not None:
            deltas[account] = deltas.get(account, 0) + delta
    return deltas


def _step(op, owners: list[Ref], model: Model) -> tuple[str, str]:
    """Run one operation; returns (what the model expected, what happened)."""
    name, expected = op[0], "ok"
    try:
        if name == "deposit":
            _, o, a, n = op
            result = deposit(
                owner=owners[o], creator=ACTOR, amount=_amount(a, n), reason=Ref("p", "d"), idempotency_key=key()
            )
            model.apply(result.entry_id, {(o, a): n})
            return "ok", "ok"
        if name == "withdraw":
            _, o, a, n = op
            expected = "ok" if model.available(o, a) >= n else "InsufficientFunds"
            result = withdraw(
                owner=owners[o], actor=ACTOR, amount=_amount(a, n), reason=Ref("p", "w"), idempotency_key=key()
            )
            model.apply(result.entry_id, {(o, a): -n})
            return expected, "ok"
        if name == "transfer":
            _, o, shift, a, n = op
            d = (o + shift) % OWNERS  # never to oneself: see test_transfer_to_oneself_...
            expected = "ok" if model.available(o, a) >= n else "InsufficientFunds"
            result = transfer(
                source=owners[o],
                destination=owners[d],
                actor=ACTOR,
                amount=_amount(a, n),
                reason=Ref("p", "t"),
                idempotency_key=key(),
            )
            model.apply(result.entry_id, {(o, a): -n, (d, a): n})
            return expected, "ok"
        if name == "hold_create":
            _, o, d, a, n = op
            expected = "ok" if model.available(o, a) >= n else "InsufficientFunds"
            hold, replayed = hold_create(
                owner=owners[o],
                actor=ACTOR,
                amount=_amount(a, n),
                reason=Ref("p", "h"),
                idempotency_key=key(),
                destination=owners[d] if d is not None else None,
            )
            assert not replayed
            model.holds.append(ModelHold(hold.pk, o, d, a, n))
            return expected, "ok"
        if name == "hold_post":
            if not model.holds:
                return "skip", "skip"
            _, index, wanted = op
            hold = model.holds[index % len(model.holds)]
            amount = min(wanted, hold.amount) if wanted is not None else None
            post_amount = hold.amount if amount is None else amount
            if hold.status == "posted" and (amount is None or hold.posted_amount == amount):
                expected = "replayed"
            elif hold.status != "pending":
                expected = "HoldNotPending"
            else:
                expected = "ok"
            _, result = hold_post(hold_id=hold.hold_id, actor=ACTOR, amount=amount)
            if result.replayed:
                return expected, "replayed"
            hold.status, hold.posted_amount = "posted", post_amount
            model.apply(result.entry_id, _net(((hold.owner, hold.asset), -post_amount), (_dest(hold), post_amount)))
            return expected, "ok"
        if name == "hold_void":
            if not model.holds:
                return "skip", "skip"
            hold = model.holds[op[1] % len(model.holds)]
            expected = "ok" if hold.status in ("pending", "voided") else "HoldNotPending"
            hold_void(hold_id=hold.hold_id, actor=ACTOR)
            hold.status = "voided"
            return expected, "ok"
        if name == "entry_reverse":
            if not model.entries:
                return "skip", "skip"
            entry = model.entries[op[1] % len(model.entries)]
            expected = _reverse_expected(entry, model)
            result = entry_reverse(entry_id=entry.entry_id, actor=ACTOR, reason=Ref("p", "r"), idempotency_key=key())
            entry.reversed = True
            model.apply(result.entry_id, {account: -delta for account, delta in entry.deltas.items()}, is_reversal=True)
            return expected, "ok"
    except REFUSALS as refusal:
        return expected, type(refusal).__name__
    raise AssertionError(f"unknown operation {op}")


def _dest(hold: ModelHold):
    return (hold.destination, hold.asset) if hold.destination is not None else None


def _reverse_expected(entry: ModelEntry, model: Model) -> str:
    if entry.is_reversal:
        return "NotReversible"
    if entry.reversed:
        return "AlreadyReversed"  # decided before looking at the money
    for (o, a), delta in entry.deltas.items():
        if delta > 0 and model.available(o, a) < delta:
            return "InsufficientFunds"
    return "ok"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=1, max_size=25))
def test_random_movements_keep_the_ledger_consistent_and_never_overdraw(ops):
    # given four fresh owners per example, each starting with some of both assets
    run = uuid.uuid4().hex[:12]
    owners = [Ref("user", f"prop-{run}-{i}") for i in range(OWNERS)]
    model = Model()
    for o in range(OWNERS):
        for a in range(len(ASSETS)):
            assert _step(("deposit", o, a, STARTING_BALANCE), owners, model) == ("ok", "ok")

    # when the operations run, business refusals included
    for op in ops:
        expected, happened = _step(op, owners, model)
        assert happened == expected, (op, model)
        event(f"{op[0]}: {happened}")

    # then the ledger re-derives cleanly, nobody is overdrawn, and balances match the model
    report = ledger_verify()
    assert report.ok, report.problems
    overdrawn = Account.objects.filter(system_name="", owner_id__startswith=f"prop-{run}-").filter(
        posted__lt=F("pending")
    )
    assert not overdrawn.exists()
    for o, ref in enumerate(owners):
        for a, asset_key in enumerate(ASSETS):
            actual = balance(ref, asset_key)
            assert (actual["posted"], actual["pending"]) == (model.posted.get((o, a), 0), model.pending(o, a)), (
                ref,
                asset_key,
            )


def test_transfer_to_oneself_is_refused_as_bad_input():
    who = funded(10)

    with pytest.raises(InvalidInput) as error:
        transfer(source=who, destination=who, actor=who, amount=usd(50), reason=Ref("p", "t"), idempotency_key=key())
    assert error.value.code == "same_owner"
    assert balance(who)["posted"] == 10


def test_entry_whose_legs_cancel_on_one_account_still_needs_the_money_it_spends():
    who = funded(10)
    legs = (Leg(usd(-50), owner=who), Leg(usd(50), owner=who))

    with pytest.raises(InsufficientFunds):
        entry_post(spec=EntrySpec(legs, who, Ref("p", "t"), key()))
    assert balance(who)["posted"] == 10
