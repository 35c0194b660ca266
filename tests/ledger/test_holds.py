"""Two-phase movements: a hold reserves money; posting moves all or part of it; voiding or
expiry releases it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.ledger.amounts import Ref
from apps.ledger.exceptions import HoldAmountTooLarge, HoldNotPending, InsufficientFunds
from apps.ledger.models import Entry, Hold, Lot, Operation, Posting
from apps.ledger.services import hold_create, hold_post, hold_void, holds_expire, withdraw
from apps.ledger.verify import ledger_verify
from tests.factories.ledger import balance, funded, hold_body, key, usd

pytestmark = pytest.mark.django_db
HOLDS = "/api/v1/ledger/holds"
SHOP = Ref("merchant", "shop-1")


def _expired_hold(who: Ref, count: int, ago: timedelta) -> Hold:
    """A hold whose expiry has passed (created live, then its clock moved back)."""
    hold = _hold(who, count, expires_at=timezone.now() + timedelta(hours=1))
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - ago)
    hold.refresh_from_db()
    return hold


def _hold(who: Ref, count: int, **kwargs) -> Hold:
    hold, replayed = hold_create(
        owner=who,
        actor=who,
        amount=usd(count),
        reason=Ref("order", key().value),
        idempotency_key=key("order"),
        **kwargs,
    )
    assert replayed is False
    return hold


def _figures(balance_view: dict) -> tuple[int, int, int]:
    return balance_view["posted"], balance_view["pending"], balance_view["available"]


def _usd(count: int) -> dict:
    return {"unitType": "currency_micros", "unitToken": "USD", "unitCount": count}


def test_hold_reduces_available_but_not_posted(ledger_api):
    who = funded(100)
    entries_before = Entry.objects.count()

    response = ledger_api.post(HOLDS, hold_body(who, 30), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["amount"] == _usd(30)
    assert body["postedAmount"] is None and body["entryId"] is None
    assert {k: body["balance"][k] for k in ("posted", "pending", "available")} == {
        "posted": 100,
        "pending": 30,
        "available": 70,
    }
    assert balance(who)["available"] == 70
    assert Entry.objects.count() == entries_before  # a hold writes no entry


def test_held_money_cannot_be_withdrawn():
    # given 100 with 80 of it held
    who = funded(100)
    _hold(who, 80)

    # when the owner tries to spend 30 of it
    with pytest.raises(InsufficientFunds):
        withdraw(owner=who, actor=who, amount=usd(30), reason=Ref("purchase", "p"), idempotency_key=key())

    # then only the 20 not held can go
    withdraw(owner=who, actor=who, amount=usd(20), reason=Ref("purchase", "p"), idempotency_key=key())
    assert _figures(balance(who)) == (80, 80, 0)


def test_posting_part_of_a_hold_moves_only_that_part_and_releases_the_rest(ledger_api):
    # given a hold of 30 on 100
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()

    # when 20 of it is posted
    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {"amount": _usd(20)}, format="json")

    # then 20 left the owner, and the other 10 is available again
    assert response.status_code == 200, response.json()
    assert "Idempotent-Replayed" not in response
    body = response.json()
    assert (body["status"], body["postedAmount"]) == ("posted", 20)
    assert {k: body["balance"][k] for k in ("posted", "pending", "available")} == {
        "posted": 80,
        "pending": 0,
        "available": 80,
    }
    postings = Posting.objects.filter(entry_id=body["entryId"]).select_related("account")
    assert sorted((p.account.system_name, p.account.owner_id, p.amount) for p in postings) == [
        ("", who.value, -20),
        ("external_withdrawals", "", 20),
    ]
    assert Entry.objects.get(pk=body["entryId"]).kind == "hold_post"
    assert ledger_verify().ok


def test_posting_a_hold_without_an_amount_posts_all_of_it():
    who = funded(100)
    hold = _hold(who, 30)

    posted, result = hold_post(hold_id=hold.pk, actor=who)

    assert (posted.status, posted.posted_amount, posted.posted_entry_id) == ("posted", 30, result.entry_id)
    assert result.replayed is False
    assert (balance(who)["posted"], balance(who)["pending"]) == (70, 0)
    assert Hold.objects.get(pk=hold.pk).resolved_at is not None


def test_posting_a_hold_twice_with_the_same_amount_replays(ledger_api):
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()
    first = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {"amount": _usd(25)}, format="json")
    entries = Entry.objects.count()

    again = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {"amount": _usd(25)}, format="json")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["entryId"] == first.json()["entryId"]
    assert Entry.objects.count() == entries
    assert balance(who)["posted"] == 75


def test_posting_a_posted_hold_with_another_amount_is_409_hold_not_pending(ledger_api):
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()
    ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {"amount": _usd(25)}, format="json")

    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {"amount": _usd(30)}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "hold_not_pending"
    assert balance(who)["posted"] == 75


def test_posting_a_voided_hold_is_409_hold_not_pending(ledger_api):
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()
    assert ledger_api.post(f"{HOLDS}/{hold['holdId']}/void", {}, format="json").status_code == 200
    entries = Entry.objects.count()

    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "hold_not_pending"
    assert Entry.objects.count() == entries
    assert balance(who)["available"] == 100


def test_posting_more_than_the_hold_is_400_and_moves_nothing(ledger_api):
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()

    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {"amount": _usd(31)}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "hold_amount_too_large"
    assert Hold.objects.get(pk=hold["holdId"]).status == "pending"
    assert (balance(who)["posted"], balance(who)["pending"]) == (100, 30)
    with pytest.raises(HoldAmountTooLarge):
        hold_post(hold_id=hold["holdId"], actor=who, amount=31)


def test_hold_larger_than_available_is_422_and_the_refusal_is_remembered_for_its_key(ledger_api):
    # given 10 available
    who = funded(10)
    body = hold_body(who, 30)

    # when a hold of 30 is asked for
    refused = ledger_api.post(HOLDS, body, format="json")

    # then it is refused, nothing is reserved, and the key records the refusal
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "insufficient_funds"
    assert "Idempotent-Replayed" not in refused
    assert not Hold.objects.exists()
    assert balance(who)["pending"] == 0
    operation = Operation.objects.get(idempotency_token=body["idempotencyKey"]["token"])
    assert (operation.status, operation.error_code) == ("refused", "insufficient_funds")

    # and a top-up does not change the answer for the same key
    funded(100, who=who)
    retried = ledger_api.post(HOLDS, body, format="json")
    assert retried.status_code == 422
    assert retried["Idempotent-Replayed"] == "true"
    assert not Hold.objects.exists()

    # but a new key is a new attempt
    fresh = ledger_api.post(HOLDS, {**body, "idempotencyKey": {"type": "order", "token": "new"}}, format="json")
    assert fresh.status_code == 201
    assert fresh.json()["balance"]["available"] == 80


def test_creating_a_hold_again_with_its_key_replays_it(ledger_api):
    who = funded(100)
    body = hold_body(who, 30)
    first = ledger_api.post(HOLDS, body, format="json")

    again = ledger_api.post(HOLDS, body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["holdId"] == first.json()["holdId"]
    assert Hold.objects.count() == 1
    assert balance(who)["pending"] == 30


def test_void_releases_the_held_money(ledger_api):
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()

    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/void", {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "voided"
    assert response.json()["balance"]["available"] == 100
    assert (balance(who)["posted"], balance(who)["pending"]) == (100, 0)
    # voiding again answers the same and releases nothing twice
    again = ledger_api.post(f"{HOLDS}/{hold['holdId']}/void", {}, format="json")
    assert (again.status_code, again.json()["status"]) == (200, "voided")
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in response
    assert balance(who)["pending"] == 0
    assert ledger_verify().ok


def test_voiding_a_posted_hold_is_409(ledger_api):
    who = funded(100)
    hold = _hold(who, 30)
    hold_post(hold_id=hold.pk, actor=who)

    response = ledger_api.post(f"{HOLDS}/{hold.pk}/void", {}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "hold_not_pending"
    assert balance(who)["posted"] == 70


def test_holds_expire_voids_expired_holds_and_leaves_unexpired_ones():
    # given one hold past its expiry and one still within it
    who = funded(100)
    expired = _expired_hold(who, 30, timedelta(minutes=1))
    alive = _hold(who, 20, expires_at=timezone.now() + timedelta(hours=1))
    assert balance(who)["pending"] == 50

    # when expiry runs
    count = holds_expire()

    # then only the expired hold is released, with status "expired"
    assert count == 1
    expired.refresh_from_db()
    alive.refresh_from_db()
    assert (expired.status, alive.status) == ("expired", "pending")
    assert expired.resolved_at is not None
    assert (balance(who)["posted"], balance(who)["pending"]) == (100, 20)
    with pytest.raises(HoldNotPending):
        hold_post(hold_id=expired.pk, actor=who)
    assert holds_expire() == 0
    assert ledger_verify().ok


def test_a_hold_cannot_be_created_already_expired(ledger_api):
    who = funded(100)

    response = ledger_api.post(
        "/api/v1/ledger/holds", hold_body(who, 10, expiresAt="2020-01-01T00:00:00Z"), format="json"
    )

    assert response.status_code == 400
    assert "expiresAt" in response.json()["error"]["fields"]
    assert balance(who)["pending"] == 0


def test_an_expired_hold_cannot_be_voided_and_stays_released():
    who = funded(100)
    hold = _expired_hold(who, 30, timedelta(seconds=1))
    holds_expire()

    with pytest.raises(HoldNotPending):
        hold_void(hold_id=hold.pk, actor=who)
    assert Hold.objects.get(pk=hold.pk).status == "expired"
    assert balance(who)["pending"] == 0


def test_hold_with_a_to_owner_moves_the_money_to_that_owner_when_posted(ledger_api):
    # given a payer whose money carries a tag, holding 40 for a merchant
    payer = funded(100, tags=[("refund_policy", "no_refunds")])
    body = hold_body(payer, 40, to={"type": SHOP.type, "id": SHOP.value})
    hold = ledger_api.post(HOLDS, body, format="json").json()
    assert balance(SHOP)["posted"] == 0  # nothing moves until posted

    # when the hold is posted
    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {}, format="json")

    # then the merchant has the 40, and the money kept its tag
    assert response.status_code == 200
    assert response.json()["balance"]["posted"] == 60
    assert _figures(balance(payer)) == (60, 0, 60)
    assert balance(SHOP)["available"] == 40
    lots = list(Lot.objects.filter(account__owner_id=SHOP.value))
    assert [(lot.amount, lot.tags) for lot in lots] == [(40, [["refund_policy", "no_refunds"]])]
    assert lots[0].entry_id == response.json()["entryId"]
    assert ledger_verify().ok


def test_a_client_key_that_looks_like_an_internal_one_does_not_block_posting_a_hold(ledger_api):
    # given a pending hold, and another movement that happened to use the key type "hold_post"
    who = funded(100)
    hold = ledger_api.post(HOLDS, hold_body(who, 30), format="json").json()
    collision = ledger_api.post(
        "/api/v1/ledger/deposits",
        {
            "owner": {"type": "user", "id": "someone-else"},
            "creator": {"type": "user", "id": "someone-else"},
            "amount": _usd(1),
            "reason": {"type": "top_up", "token": "t"},
            "idempotencyKey": {"type": "hold_post", "token": str(hold["holdId"])},
        },
        format="json",
    )
    assert collision.status_code == 201

    # when the hold is posted
    response = ledger_api.post(f"{HOLDS}/{hold['holdId']}/post", {}, format="json")

    # then it posts like any other hold
    assert response.status_code == 200, response.json()
    assert balance(who)["posted"] == 70
