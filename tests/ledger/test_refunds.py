"""Refunds are decided by the money's tags: gift card money (refund_policy:no_refunds) never
goes out to a payment method, but a purchase refunded to the balance gives it back as it was."""

import uuid

import pytest

from apps.ledger.amounts import Ref
from apps.ledger.models import Entry, Lot
from apps.ledger.services import withdraw
from tests.factories.ledger import balance, funded, key, usd

pytestmark = pytest.mark.django_db
URL = "/api/v1/ledger/refunds"
NO_REFUNDS = [("refund_policy", "no_refunds"), ("credit", "true")]


def refund_body(who: Ref, count: int | None = None, **overrides) -> dict:
    token = uuid.uuid4().hex[:12]
    body = {
        "owner": {"type": who.type, "id": who.value},
        "actor": {"type": "staff", "id": "support-7"},
        "destination": "payment_method",
        "reason": {"type": "refund", "token": token},
        "idempotencyKey": {"type": "refund", "token": token},
    }
    if count is not None:
        body["amount"] = {"unitType": "currency_micros", "unitToken": "USD", "unitCount": count}
    body.update(overrides)
    return body


def test_gift_card_money_is_not_refunded_to_a_payment_method(ledger_api):
    who = funded(100_000_000, tags=NO_REFUNDS)
    entries_before = Entry.objects.count()

    response = ledger_api.post(URL, refund_body(who, 10_000_000), format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "refund_not_allowed"
    assert Entry.objects.count() == entries_before
    assert balance(who)["available"] == 100_000_000


def test_the_refusal_is_remembered_for_its_key(ledger_api):
    who = funded(100_000_000, tags=NO_REFUNDS)
    body = refund_body(who, 10_000_000)
    ledger_api.post(URL, body, format="json")

    replay = ledger_api.post(URL, body, format="json")

    assert replay.status_code == 422 and replay.json()["error"]["code"] == "refund_not_allowed"
    assert replay["Idempotent-Replayed"] == "true"


def test_only_refundable_money_goes_out_and_gift_card_money_stays(ledger_api):
    # given $100 of gift card money and then $20 paid in by card
    who = funded(100_000_000, tags=NO_REFUNDS)
    funded(20_000_000, who=who, tags=[("source", "card")])

    # when $15 is refunded to the card, and then $10 more is asked for
    done = ledger_api.post(URL, refund_body(who, 15_000_000), format="json")
    too_much = ledger_api.post(URL, refund_body(who, 10_000_000), format="json")

    # then the $15 came from the card lot; the gift card lot is untouched; the $10 is refused
    assert done.status_code == 201, done.json()
    assert done.json()["destination"] == "payment_method"
    assert done.json()["balance"]["available"] == 105_000_000
    gift_lot = Lot.objects.get(tags__contains=[["refund_policy", "no_refunds"]])
    assert gift_lot.remaining == 100_000_000
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "refund_not_allowed"


def test_more_than_the_balance_is_insufficient_funds_not_a_policy_refusal(ledger_api):
    who = funded(5_000_000, tags=NO_REFUNDS)
    response = ledger_api.post(URL, refund_body(who, 50_000_000), format="json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "insufficient_funds"


def test_a_purchase_refunded_to_the_balance_comes_back_still_non_refundable(ledger_api):
    # given a gift card balance and a $65.30 purchase paid from it
    who = funded(100_000_000, tags=NO_REFUNDS)
    purchase = withdraw(
        owner=who,
        actor=who,
        amount=usd(65_300_000),
        reason=Ref("purchase", "order-1"),
        idempotency_key=Ref("purchase", f"order-{uuid.uuid4().hex[:6]}"),
    )

    # when it is refunded to the balance
    body = refund_body(who, destination="balance", purchaseEntryId=purchase.entry_id)
    response = ledger_api.post(URL, body, format="json")

    # then the money is back, as gift card money, and still cannot go to a card
    assert response.status_code == 201, response.json()
    assert response.json()["amount"]["unitCount"] == 65_300_000
    assert balance(who)["available"] == 100_000_000
    restored = Lot.objects.get(entry_id=response.json()["entryId"])
    assert ["refund_policy", "no_refunds"] in restored.tags
    assert ledger_api.post(URL, refund_body(who, 1_000_000), format="json").json()["error"]["code"] == (
        "refund_not_allowed"
    )
    replay = ledger_api.post(URL, body, format="json")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"destination": None}, "destination"),
        ({"destination": "cash"}, "destination"),
        ({"amount": None}, "amount"),
        ({"destination": "balance", "amount": None}, "purchaseEntryId"),
        ({"owner": None}, "owner"),
        ({"idempotencyKey": None}, "idempotencyKey"),
    ],
)
def test_bad_refund_requests_are_400_naming_the_field_and_write_nothing(ledger_api, change, field):
    who = funded(10_000_000)
    body = refund_body(who, 1_000_000)
    for name, value in change.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    entries_before = Entry.objects.count()

    response = ledger_api.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Entry.objects.count() == entries_before


def test_refund_to_the_balance_of_someone_elses_purchase_is_refused(ledger_api):
    payer = funded(10_000_000)
    purchase = withdraw(
        owner=payer, actor=payer, amount=usd(1_000_000), reason=Ref("purchase", "p"), idempotency_key=key("purchase")
    )
    stranger = funded(1)
    body = refund_body(stranger, destination="balance", purchaseEntryId=purchase.entry_id)
    response = ledger_api.post(URL, body, format="json")
    assert response.status_code == 400 and "purchaseEntryId" in response.json()["error"]["fields"]
