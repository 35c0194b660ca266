"""The only writers of the ledger. Import from here:

from apps.ledger.services import deposit, withdraw, transfer, entry_post, entries_post_batch,
    entry_reverse, hold_create, hold_post, hold_void, refund_to_payment_method, refund_to_balance
"""

from apps.ledger.services.holds import hold_create, hold_post, hold_void, holds_expire
from apps.ledger.services.posting import (
    EntrySpec,
    Leg,
    PostResult,
    deposit,
    entries_post_batch,
    entry_post,
    entry_reverse,
    transfer,
    withdraw,
)
from apps.ledger.services.refunds import refund_to_balance, refund_to_payment_method

__all__ = [
    "EntrySpec",
    "Leg",
    "PostResult",
    "deposit",
    "entries_post_batch",
    "entry_post",
    "entry_reverse",
    "hold_create",
    "hold_post",
    "hold_void",
    "holds_expire",
    "refund_to_balance",
    "refund_to_payment_method",
    "transfer",
    "withdraw",
]
