"""Reversals undo an entry with a new, linked entry of opposite postings."""

import pytest

from apps.ledger.amounts import Ref
from apps.ledger.exceptions import AlreadyReversed, NotReversible
from apps.ledger.models import Entry, Lot
from apps.ledger.services import deposit, entry_reverse, transfer, withdraw
from apps.ledger.verify import ledger_verify
from tests.factories.ledger import balance, funded, key, owner, usd

pytestmark = pytest.mark.django_db
NO_REFUNDS = ["refund_policy", "no_refunds"]
SUPPORT = Ref("staff", "support-1")


def _reverse_body(token: str | None = None) -> dict:
    return {
        "actor": {"type": SUPPORT.type, "id": SUPPORT.value},
        "reason": {"type": "support_ticket", "token": "T-1"},
        "idempotencyKey": {"type": "reversal", "token": token or key().value},
    }


def _reverse_url(entry_id: int) -> str:
    return f"/api/v1/ledger/entries/{entry_id}/reverse"


def _withdraw(who: Ref, count: int):
    return withdraw(owner=who, actor=who, amount=usd(count), reason=Ref("purchase", key().value), idempotency_key=key())


def _deposit(who: Ref, count: int, tags=()):
    return deposit(
        owner=who, creator=who, amount=usd(count), reason=Ref("top_up", key().value), idempotency_key=key(), tags=tags
    )


def _open_lots(who: Ref) -> list[tuple[int, list]]:
    lots = Lot.objects.filter(account__owner_id=who.value, remaining__gt=0).order_by("id")
    return [(lot.remaining, lot.tags) for lot in lots]


def test_reversing_a_withdrawal_restores_the_balance_and_the_money_keeps_its_tags(ledger_api):
    # given 100 of no-refunds money, 60 of it spent
    who = funded(100, tags=[NO_REFUNDS])
    spent = _withdraw(who, 60)

    # when the purchase is reversed
    response = ledger_api.post(_reverse_url(spent.entry_id), _reverse_body(), format="json")

    # then the 60 is back, still tagged no_refunds
    assert response.status_code == 201, response.json()
    assert response.json()["reverses"] == spent.entry_id
    assert balance(who)["posted"] == 100
    assert _open_lots(who) == [(40, [NO_REFUNDS]), (60, [NO_REFUNDS])]
    returned = Lot.objects.get(entry_id=response.json()["entryId"])
    assert (returned.amount, returned.tags) == (60, [NO_REFUNDS])
    assert Entry.objects.get(pk=response.json()["entryId"]).kind == "reversal"
    assert ledger_verify().ok


def test_reversing_a_withdrawal_of_mixed_lots_gives_each_part_back_its_own_tags():
    # given 50 of no-refunds money and 50 of plain money, all spent in one purchase
    who = funded(50, tags=[NO_REFUNDS])
    _deposit(who, 50)
    spent = _withdraw(who, 100)

    # when the purchase is reversed
    entry_reverse(entry_id=spent.entry_id, actor=SUPPORT, reason=Ref("support_ticket", "T-2"), idempotency_key=key())

    # then 50 comes back tagged and 50 comes back plain
    assert balance(who)["posted"] == 100
    assert sorted(_open_lots(who)) == [(50, []), (50, [NO_REFUNDS])]


def test_reversing_a_deposit_takes_the_money_back_from_the_lots_that_deposit_created():
    # given an older deposit and a newer one (FIFO alone would take from the older)
    who = funded(100, tags=[["source", "older"]])
    newer = _deposit(who, 30, tags=[["source", "newer"]])

    # when the newer deposit is reversed
    reversal = entry_reverse(
        entry_id=newer.entry_id, actor=SUPPORT, reason=Ref("chargeback", "c1"), idempotency_key=key()
    )

    # then the newer deposit's lot is emptied and the older one is untouched
    assert reversal.replayed is False
    assert Lot.objects.get(entry_id=newer.entry_id).remaining == 0
    assert _open_lots(who) == [(100, [["source", "older"]])]
    assert balance(who)["posted"] == 100
    assert ledger_verify().ok


def test_reversing_a_transfer_moves_the_money_back(ledger_api):
    # given a transfer of 30 from a to b
    a, b = funded(100, tags=[NO_REFUNDS]), owner()
    moved = transfer(source=a, destination=b, actor=a, amount=usd(30), reason=Ref("gift", "g1"), idempotency_key=key())
    assert balance(b)["posted"] == 30

    # when it is reversed
    response = ledger_api.post(_reverse_url(moved.entry_id), _reverse_body(), format="json")

    # then a has everything back, with its tag, and b has nothing
    assert response.status_code == 201
    assert (balance(a)["posted"], balance(b)["posted"]) == (100, 0)
    assert _open_lots(b) == []
    assert sum(amount for amount, _ in _open_lots(a)) == 100
    assert all(tags == [NO_REFUNDS] for _, tags in _open_lots(a))
    assert ledger_verify().ok


def test_reversing_a_transfer_is_refused_when_the_receiver_spent_the_money(ledger_api):
    a, b = funded(100), owner()
    moved = transfer(source=a, destination=b, actor=a, amount=usd(30), reason=Ref("gift", "g1"), idempotency_key=key())
    _withdraw(b, 10)

    response = ledger_api.post(_reverse_url(moved.entry_id), _reverse_body(), format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert (balance(a)["posted"], balance(b)["posted"]) == (70, 20)


def test_reversing_twice_with_a_different_key_is_409_already_reversed(ledger_api):
    who = funded(100)
    spent = _withdraw(who, 60)
    assert ledger_api.post(_reverse_url(spent.entry_id), _reverse_body(), format="json").status_code == 201

    again = ledger_api.post(_reverse_url(spent.entry_id), _reverse_body(), format="json")

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_reversed"
    assert balance(who)["posted"] == 100  # not given back twice
    assert Entry.objects.filter(reverses_id=spent.entry_id).count() == 1
    with pytest.raises(AlreadyReversed):
        entry_reverse(entry_id=spent.entry_id, actor=SUPPORT, reason=Ref("support_ticket", "x"), idempotency_key=key())


def test_reversing_again_with_the_same_key_replays(ledger_api):
    who = funded(100)
    spent = _withdraw(who, 60)
    body = _reverse_body("rev-1")
    first = ledger_api.post(_reverse_url(spent.entry_id), body, format="json")

    again = ledger_api.post(_reverse_url(spent.entry_id), body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert balance(who)["posted"] == 100


def test_reversing_a_reversal_is_422_not_reversible(ledger_api):
    who = funded(100)
    spent = _withdraw(who, 60)
    reversal = ledger_api.post(_reverse_url(spent.entry_id), _reverse_body(), format="json").json()

    response = ledger_api.post(_reverse_url(reversal["entryId"]), _reverse_body(), format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "not_reversible"
    assert balance(who)["posted"] == 100
    with pytest.raises(NotReversible):
        entry_reverse(entry_id=reversal["entryId"], actor=SUPPORT, reason=Ref("x", "y"), idempotency_key=key())


def test_reversing_a_deposit_whose_money_was_spent_is_422_insufficient_funds(ledger_api):
    # given a deposit of 100, of which 30 was spent
    who = owner()
    deposited = _deposit(who, 100)
    _withdraw(who, 30)
    entries = Entry.objects.count()

    # when the deposit is reversed
    response = ledger_api.post(_reverse_url(deposited.entry_id), _reverse_body(), format="json")

    # then it is refused and nothing moves
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert balance(who)["posted"] == 70
    assert Entry.objects.count() == entries
    assert ledger_verify().ok


def test_reversing_a_deposit_whose_money_is_held_is_422_insufficient_funds(ledger_api):
    who = owner()
    deposited = _deposit(who, 100)
    hold = ledger_api.post(
        "/api/v1/ledger/holds",
        {
            "owner": {"type": who.type, "id": who.value},
            "actor": {"type": who.type, "id": who.value},
            "amount": {"unitType": "currency_micros", "unitToken": "USD", "unitCount": 1},
            "reason": {"type": "order", "token": "o1"},
            "idempotencyKey": {"type": "order", "token": "o1"},
        },
        format="json",
    )
    assert hold.status_code == 201

    response = ledger_api.post(_reverse_url(deposited.entry_id), _reverse_body(), format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert (balance(who)["posted"], balance(who)["pending"]) == (100, 1)


def test_reversal_entry_links_to_the_original(ledger_api):
    who = funded(100)
    spent = _withdraw(who, 60)
    reversal_id = ledger_api.post(_reverse_url(spent.entry_id), _reverse_body(), format="json").json()["entryId"]

    original = ledger_api.get(f"/api/v1/ledger/entries/{spent.entry_id}").json()
    reversal = ledger_api.get(f"/api/v1/ledger/entries/{reversal_id}").json()

    assert (original["reverses"], original["reversedBy"]) == (None, reversal_id)
    assert (reversal["reverses"], reversal["reversedBy"]) == (spent.entry_id, None)
    assert reversal["kind"] == "reversal"
    assert reversal["actor"] == {"type": SUPPORT.type, "id": SUPPORT.value}
    assert reversal["metadata"] == {"reverses": spent.entry_id}

    def signed(entry):
        return sorted((str(p["account"]), p["amount"]["unitCount"]) for p in entry["postings"])

    assert signed(reversal) == sorted((account, -count) for account, count in signed(original))


def test_reversing_an_unknown_entry_is_404(ledger_api):
    response = ledger_api.post(_reverse_url(987_654_321), _reverse_body(), format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
