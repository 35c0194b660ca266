"""Demo gift cards: two Khata cards with known numbers and PINs to try on the redemption page
(created once; a card already redeemed stays redeemed). The sandbox route for their prefix
comes with the migrations."""

import secrets

from apps.giftcards.cards import card_fingerprint, pin_hash
from apps.giftcards.models import SandboxCard

DEMO_CARDS = (
    # number, PIN, value in micros
    ("7000000000000001", "12345678", 100_000_000),
    ("7000000000000002", "87654321", 25_000_000),
)


def demo_seed() -> list[str]:
    lines = []
    for number, pin, micros in DEMO_CARDS:
        card, _ = SandboxCard.objects.get_or_create(
            fingerprint=card_fingerprint(number),
            defaults={
                "last4": number[-4:],
                "pin_hash": pin_hash(pin),
                "reference": secrets.token_hex(12),
                "currency": "USD",
                "unit_count": micros,
                "where_sold": "Khata demo",
            },
        )
        lines.append(f"gift card    {number} PIN {pin}  (${micros // 1_000_000}, {card.state}) at /giftcards/redeem")
    return lines
