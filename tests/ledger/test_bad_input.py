"""Every bad input is a 400 naming the field, and nothing is written."""

import pytest

from apps.ledger.models import Account, Entry, Operation
from tests.factories.ledger import deposit_body, withdrawal_body

pytestmark = pytest.mark.django_db
USD = {"unitType": "currency_micros", "unitToken": "USD"}


def _amount(count):
    return {**USD, "unitCount": count}


CASES = [
    ("zero amount", deposit_body(amount=_amount(0)), ["amount", "unitCount"]),
    ("negative amount", deposit_body(amount=_amount(-5)), ["amount", "unitCount"]),
    ("float amount", deposit_body(amount=_amount(100.5)), ["amount", "unitCount"]),
    ("whole float amount", deposit_body(amount=_amount(100.0)), ["amount", "unitCount"]),
    ("string amount", deposit_body(amount=_amount("100")), ["amount", "unitCount"]),
    ("boolean amount", deposit_body(amount=_amount(True)), ["amount", "unitCount"]),
    ("above 2^63-1", deposit_body(amount=_amount(2**63)), ["amount", "unitCount"]),
    (
        "unknown asset",
        deposit_body(amount={"unitType": "currency_micros", "unitToken": "XYZ", "unitCount": 5}),
        ["amount", "unitToken"],
    ),
    ("missing idempotency key", {k: v for k, v in deposit_body().items() if k != "idempotencyKey"}, ["idempotencyKey"]),
    (
        "blank idempotency token",
        deposit_body(idempotencyKey={"type": "gift_card", "token": "  "}),
        ["idempotencyKey", "token"],
    ),
    ("malformed owner", deposit_body(owner={"type": "user"}), ["owner", "id"]),
    ("owner not an object", deposit_body(owner="user:12345"), ["owner"]),
    ("malformed reason", deposit_body(reason={"type": "", "token": "x"}), ["reason", "type"]),
    ("malformed tags", deposit_body(tags=[{"type": "credit"}]), ["tags"]),
    ("tags not a list", deposit_body(tags={"type": "credit", "token": "true"}), ["tags"]),
    ("unknown top-level field", deposit_body(colour="blue"), ["colour"]),
    ("unknown nested field", deposit_body(amount={**_amount(5), "unitScale": 6}), ["amount", "unitScale"]),
]


@pytest.mark.parametrize(("case", "body", "path"), CASES, ids=[c[0] for c in CASES])
def test_bad_deposit_is_400_naming_the_field_and_writes_nothing(ledger_api, case, body, path):
    response = ledger_api.post("/api/v1/ledger/deposits", body, format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    node = error["fields"]
    for part in path:
        if isinstance(node, list):
            node = node[0]
        assert part in node, (case, error)
        node = node[part]
    assert (Entry.objects.count(), Operation.objects.count(), Account.objects.count()) == (0, 0, 0)


def test_withdrawal_rejects_unknown_fields_and_creator_instead_of_actor(ledger_api):
    body = withdrawal_body(creator={"type": "user", "id": "1"})
    body.pop("actor")

    response = ledger_api.post("/api/v1/ledger/withdrawals", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"actor", "creator"}
    assert Entry.objects.count() == 0


def test_bad_as_of_and_missing_owner_are_400(ledger_api):
    assert ledger_api.get("/api/v1/ledger/balances?ownerType=user").json()["error"]["fields"] == {
        "ownerId": ["Required."]
    }
    response = ledger_api.get("/api/v1/ledger/balances?ownerType=user&ownerId=1&asOf=yesterday")
    assert response.status_code == 400
    assert "asOf" in response.json()["error"]["fields"]


def test_hold_post_in_another_asset_is_400(ledger_api):
    ledger_api.post("/api/v1/ledger/deposits", deposit_body(), format="json")
    hold = ledger_api.post(
        "/api/v1/ledger/holds",
        {
            "owner": {"type": "user", "id": "12345"},
            "actor": {"type": "user", "id": "12345"},
            "amount": _amount(10),
            "reason": {"type": "order", "token": "o1"},
            "idempotencyKey": {"type": "order", "token": "o1"},
        },
        format="json",
    ).json()

    response = ledger_api.post(
        f"/api/v1/ledger/holds/{hold['holdId']}/post",
        {"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 5}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "asset_mismatch"
    assert Entry.objects.count() == 1


def test_ledger_writes_need_the_ledger_write_scope(service_api):
    events_only = service_api(scopes=("events:write",))

    response = events_only.post("/api/v1/ledger/deposits", deposit_body(), format="json")

    assert response.status_code == 403
    assert Entry.objects.count() == 0
