"""Real parallel connections against PostgreSQL."""

import pytest

from apps.ledger.amounts import Ref
from apps.ledger.exceptions import InsufficientFunds
from apps.ledger.models import Entry
from apps.ledger.selectors import owner_balance
from apps.ledger.services import deposit, transfer, withdraw
from apps.ledger.verify import ledger_verify
from tests.factories.ledger import funded, key, owner, usd
from tests.factories.parallel import in_parallel

pytestmark = pytest.mark.django_db(transaction=True)


def test_50_parallel_withdrawals_of_10_on_100_exactly_10_succeed():
    who = funded(100)

    outcomes = in_parallel(
        50,
        lambda i: withdraw(
            owner=who, actor=who, amount=usd(10), reason=Ref("purchase", f"p{i}"), idempotency_key=key("purchase")
        ),
    )

    succeeded = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert (len(succeeded), len(refused)) == (10, 40)
    assert owner_balance(owner=who, unit_type="currency_micros", unit_token="USD")["posted"] == 0
    assert ledger_verify().ok


def test_20_parallel_deposits_with_one_key_make_one_entry():
    who = owner()
    same_key = key("gift_card")

    outcomes = in_parallel(
        20,
        lambda i: deposit(
            owner=who, creator=who, amount=usd(100), reason=Ref("gift_card_redemption", "r1"), idempotency_key=same_key
        ),
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len({o.entry_id for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert Entry.objects.count() == 1
    assert owner_balance(owner=who, unit_type="currency_micros", unit_token="USD")["posted"] == 100


def test_crossing_transfers_do_not_deadlock_and_conserve_money():
    a, b = funded(1_000), funded(1_000)

    outcomes = in_parallel(
        16,
        lambda i: transfer(
            source=a if i % 2 else b,
            destination=b if i % 2 else a,
            actor=Ref("system", "t"),
            amount=usd(7),
            reason=Ref("test", str(i)),
            idempotency_key=key("t"),
        ),
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    total = sum(owner_balance(owner=o, unit_type="currency_micros", unit_token="USD")["posted"] for o in (a, b))
    assert total == 2_000
    assert ledger_verify().ok


def test_hot_system_account_takes_parallel_deposits():
    people = [owner() for _ in range(12)]

    outcomes = in_parallel(
        12,
        lambda i: deposit(
            owner=people[i],
            creator=people[i],
            amount=usd(5),
            reason=Ref("test", str(i)),
            idempotency_key=key("d"),
            source_system="points_issued",
        ),
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    report = ledger_verify()
    assert report.ok, report.problems
