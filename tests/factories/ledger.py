import uuid

from apps.ledger.amounts import Amount, Ref
from apps.ledger.selectors import owner_balance
from apps.ledger.services import deposit

USD = ("currency_micros", "USD")
GRP = ("points", "GRP")


def usd(count: int) -> Amount:
    return Amount(*USD, count)


def points(count: int) -> Amount:
    return Amount(*GRP, count)


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


def balance(who: Ref, asset=USD) -> dict:
    """The owner's balance now: {unit_type, unit_token, posted, pending, available}."""
    return owner_balance(owner=who, unit_type=asset[0], unit_token=asset[1])


def hold_body(who: Ref, count: int, **overrides) -> dict:
    token = uuid.uuid4().hex[:12]
    body = {
        "owner": {"type": who.type, "id": who.value},
        "actor": {"type": who.type, "id": who.value},
        "amount": {"unitType": "currency_micros", "unitToken": "USD", "unitCount": count},
        "reason": {"type": "order", "token": token},
        "idempotencyKey": {"type": "order", "token": token},
    }
    body.update(overrides)
    return body


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
