from apps.giftcards.models import Redemption
from apps.ledger.selectors import owner_balance, owner_ref_for_user


def redemption_out(redemption: Redemption) -> dict:
    """A redemption as clients see it, with the user's balance in the card's currency."""
    balance = owner_balance(
        owner=owner_ref_for_user(redemption.user), unit_type=redemption.unit_type, unit_token=redemption.unit_token
    )
    return {
        "redemption_id": redemption.public_id,
        "state": redemption.state,
        "card_last4": redemption.card_last4,
        "amount": {
            "unit_type": redemption.unit_type,
            "unit_token": redemption.unit_token,
            "unit_count": redemption.unit_count,
        },
        "channel": redemption.channel,
        "where_sold": redemption.where_sold,
        "value_kind": redemption.value_kind,
        "created_at": redemption.created_at,
        "balance": balance,
    }
