import uuid

from apps.ledger.amounts import Amount, Ref
from apps.ledger.services import deposit

USD = ("currency_micros", "USD")


def usd(count: int) -> Amount:
    return Amount(*USD, count)


def key(kind: str = "test") -> Ref:
    return Ref(kind, uuid.uuid4().hex)


def owner(name: str | None = None) -> Ref:
    return Ref("user", name or f"u-{uuid.uuid4().hex[:10]}")


def funded(amount: int, *, who: Ref | None = None, tags=(), asset=USD) -> Ref:
    who = who or owner()
    deposit(
        owner=who,
        creator=who,
        amount=Amount(*asset, amount),
        reason=Ref("test_funding", uuid.uuid4().hex[:8]),
        idempotency_key=key("funding"),
        tags=tags,
    )
    return who


def deposit_body(**overrides) -> dict:
    body = {
        "owner": {"type": "user", "id": "12345"},
        "creator": {"type": "user", "id": "12345"},
        "amount": {"unitType": "currency_micros", "unitToken": "USD", "unitCount": 100_000_000},
        "reason": {"type": "gift_card_redemption", "token": "6fe0032b802a"},
        "idempotencyKey": {"type": "gift_card", "token": "1234567890"},
        "tags": [{"type": "refund_policy", "token": "no_refunds"}, {"type": "credit", "token": "true"}],
    }
    body.update(overrides)
    return body


def withdrawal_body(**overrides) -> dict:
    body = {
        "owner": {"type": "user", "id": "12345"},
        "actor": {"type": "user", "id": "12345"},
        "amount": {"unitType": "currency_micros", "unitToken": "USD", "unitCount": 65_300_000},
        "reason": {"type": "purchase", "token": "8e0fc7c9fd8c"},
        "idempotencyKey": {"type": "purchase", "token": "8e0fc7c9fd8c"},
    }
    body.update(overrides)
    return body
