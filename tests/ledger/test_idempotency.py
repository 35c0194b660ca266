import pytest

from apps.ledger.models import Entry, Operation
from tests.factories.ledger import deposit_body, withdrawal_body

pytestmark = pytest.mark.django_db
DEPOSITS = "/api/v1/ledger/deposits"
WITHDRAWALS = "/api/v1/ledger/withdrawals"


def test_same_key_same_request_replays_the_original_entry(ledger_api):
    first = ledger_api.post(DEPOSITS, deposit_body(), format="json")

    again = ledger_api.post(DEPOSITS, deposit_body(), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert again.json()["entryId"] == first.json()["entryId"]
    assert again.json()["balance"]["posted"] == 100_000_000
    assert Entry.objects.count() == 1


def test_same_key_different_request_is_409(ledger_api):
    ledger_api.post(DEPOSITS, deposit_body(), format="json")

    different = deposit_body(amount={"unitType": "currency_micros", "unitToken": "USD", "unitCount": 1})
    response = ledger_api.post(DEPOSITS, different, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Entry.objects.count() == 1


def test_refusal_is_remembered_for_its_key_even_after_a_top_up(ledger_api):
    ledger_api.post(
        DEPOSITS,
        deposit_body(amount={"unitType": "currency_micros", "unitToken": "USD", "unitCount": 10_000_000}),
        format="json",
    )

    refused = ledger_api.post(WITHDRAWALS, withdrawal_body(), format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "insufficient_funds"
    assert Operation.objects.get(idempotency_token="8e0fc7c9fd8c").status == "refused"

    # a top-up does not change the answer for the same key
    ledger_api.post(DEPOSITS, deposit_body(idempotencyKey={"type": "gift_card", "token": "second-card"}), format="json")
    retried = ledger_api.post(WITHDRAWALS, withdrawal_body(), format="json")
    assert retried.status_code == 422
    assert retried["Idempotent-Replayed"] == "true"

    # a new key is a new attempt
    fresh = ledger_api.post(
        WITHDRAWALS, withdrawal_body(idempotencyKey={"type": "purchase", "token": "retry-2"}), format="json"
    )
    assert fresh.status_code == 201
    assert fresh.json()["balance"]["available"] == 110_000_000 - 65_300_000
