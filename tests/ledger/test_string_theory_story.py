"""The gift card story from the String Theory case study, over HTTP."""

import pytest

from tests.factories.ledger import deposit_body, withdrawal_body

pytestmark = pytest.mark.django_db


def test_gift_card_deposit_then_purchase_leaves_34_70_and_trace_shows_the_tagged_lot(ledger_api):
    # given a $100 gift card redeemed as a deposit with tags that follow the money
    deposited = ledger_api.post("/api/v1/ledger/deposits", deposit_body(), format="json")
    assert deposited.status_code == 201, deposited.json()
    body = deposited.json()
    assert body["owner"] == {"type": "user", "id": "12345"}
    assert body["amount"] == {"unitType": "currency_micros", "unitToken": "USD", "unitCount": 100_000_000}
    assert body["balance"] == {
        "unitType": "currency_micros",
        "unitToken": "USD",
        "posted": 100_000_000,
        "pending": 0,
        "available": 100_000_000,
    }

    # when the user buys a $65.30 stuffed animal
    bought = ledger_api.post("/api/v1/ledger/withdrawals", withdrawal_body(), format="json")

    # then $34.70 is left, and the purchase consumed the gift card's tagged lot
    assert bought.status_code == 201
    assert bought.json()["balance"]["available"] == 34_700_000
    trace = ledger_api.get(f"/api/v1/ledger/entries/{bought.json()['entryId']}/trace").json()
    assert len(trace["consumed"]) == 1
    lot = trace["consumed"][0]
    assert lot["amount"] == 65_300_000
    assert lot["cameFrom"]["entryId"] == body["entryId"]
    assert lot["cameFrom"]["reason"] == {"type": "gift_card_redemption", "token": "6fe0032b802a"}
    assert {"type": "refund_policy", "token": "no_refunds"} in lot["tags"]

    deposit_trace = ledger_api.get(f"/api/v1/ledger/entries/{body['entryId']}/trace").json()
    created = deposit_trace["created"][0]
    assert (created["amount"], created["remaining"]) == (100_000_000, 34_700_000)
    assert created["spentBy"] == [
        {
            "entryId": bought.json()["entryId"],
            "kind": "withdrawal",
            "reason": {"type": "purchase", "token": "8e0fc7c9fd8c"},
            "amount": 65_300_000,
        }
    ]

    balances = ledger_api.get("/api/v1/ledger/balances?ownerType=user&ownerId=12345").json()
    assert balances["balances"][0]["posted"] == 34_700_000


def test_boolean_tag_token_from_the_case_study_is_accepted_as_text(ledger_api):
    body = deposit_body(tags=[{"type": "credit", "token": True}])

    response = ledger_api.post("/api/v1/ledger/deposits", body, format="json")

    assert response.status_code == 201
    entry = ledger_api.get(f"/api/v1/ledger/entries/{response.json()['entryId']}").json()
    assert entry["tags"] == [{"type": "credit", "token": "true"}]


def test_targeted_withdrawal_spends_only_matching_lots(ledger_api):
    ledger_api.post("/api/v1/ledger/deposits", deposit_body(), format="json")  # tagged no_refunds
    plain = deposit_body(
        tags=[],
        idempotencyKey={"type": "card_topup", "token": "t-1"},
        amount={"unitType": "currency_micros", "unitToken": "USD", "unitCount": 5_000_000},
    )
    ledger_api.post("/api/v1/ledger/deposits", plain, format="json")

    # only $5 carries no special tag... but spending "credit:true" money can take up to $100
    refused = ledger_api.post(
        "/api/v1/ledger/withdrawals",
        withdrawal_body(**{"from": {"tags": [{"type": "card_topup", "token": "x"}]}}),
        format="json",
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "insufficient_funds"

    spent = ledger_api.post(
        "/api/v1/ledger/withdrawals",
        withdrawal_body(
            idempotencyKey={"type": "purchase", "token": "p-2"},
            **{"from": {"tags": [{"type": "credit", "token": "true"}]}},
        ),
        format="json",
    )
    assert spent.status_code == 201
    trace = ledger_api.get(f"/api/v1/ledger/entries/{spent.json()['entryId']}/trace").json()
    assert all({"type": "credit", "token": "true"} in c["tags"] for c in trace["consumed"])
