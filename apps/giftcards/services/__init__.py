"""Writers of the gift card app:

from apps.giftcards.services import giftcard_redeem, redemption_confirm, redemptions_reconcile,
    sandbox_cards_issue, batch_issue
"""

from apps.giftcards.services.issuance import batch_issue, sandbox_cards_issue, sandbox_cards_void
from apps.giftcards.services.redemption import (
    giftcard_redeem,
    redemption_confirm,
    redemption_reverse,
    redemptions_reconcile,
)

__all__ = [
    "batch_issue",
    "giftcard_redeem",
    "redemption_confirm",
    "redemption_reverse",
    "redemptions_reconcile",
    "sandbox_cards_issue",
    "sandbox_cards_void",
]
