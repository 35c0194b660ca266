"""Demo money for the demo users: the String Theory gift card story for bob (idempotent:
replays by idempotency key on every run)."""

from decimal import Decimal

from apps.ledger.amounts import Amount, Ref
from apps.ledger.selectors import owner_balance
from apps.ledger.services import deposit, withdraw


def demo_seed() -> list[str]:
    bob = Ref("user", "bob")
    deposit(
        owner=bob,
        creator=bob,
        amount=Amount("currency_micros", "USD", 100_000_000),
        reason=Ref("gift_card_redemption", "demo-6fe0032b802a"),
        idempotency_key=Ref("gift_card", "demo-1234567890"),
        tags=[("refund_policy", "no_refunds"), ("credit", "true")],
    )
    withdraw(
        owner=bob,
        actor=bob,
        amount=Amount("currency_micros", "USD", 65_300_000),
        reason=Ref("purchase", "demo-8e0fc7c9fd8c"),
        idempotency_key=Ref("purchase", "demo-8e0fc7c9fd8c"),
    )
    left = owner_balance(owner=bob, unit_type="currency_micros", unit_token="USD")["available"]
    dollars = Decimal(left).scaleb(-6).quantize(Decimal("0.01"))
    return [f"ledger       bob: $100.00 gift card, $65.30 purchase, ${dollars} left"]
