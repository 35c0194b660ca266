"""Refunds, decided by the money's own tags.

- To an outside payment method (card, bank): a withdrawal that may spend only lots *not* tagged
  `refund_policy:no_refunds` (gift card money, promotional credit). When the refundable money is
  too little although the balance would cover it, the answer is 422 `refund_not_allowed`.
- Back to the balance: the purchase is reversed, so the money returns as the lots it was spent
  from, tags and all (gift card money comes back still non-refundable).
"""

from apps.ledger.amounts import Amount, Ref
from apps.ledger.exceptions import LOT_FILTER_REFUSAL, InsufficientFunds, RefundNotAllowed
from apps.ledger.selectors import owner_balance
from apps.ledger.services.posting import PostResult, entry_reverse, withdraw

NO_REFUNDS = ("refund_policy", "no_refunds")
SYSTEM_REFUNDS = "external_refunds"


def refund_to_payment_method(
    *, owner: Ref, actor: Ref, amount: Amount, reason: Ref, idempotency_key: Ref, metadata: dict | None = None
) -> PostResult:
    try:
        return withdraw(
            owner=owner,
            actor=actor,
            amount=amount,
            reason=reason,
            idempotency_key=idempotency_key,
            lot_exclude=[NO_REFUNDS],
            destination_system=SYSTEM_REFUNDS,
            metadata=metadata,
        )
    except InsufficientFunds as exc:
        if exc.message != LOT_FILTER_REFUSAL:
            raise
        available = owner_balance(owner=owner, unit_type=amount.unit_type, unit_token=amount.unit_token)["available"]
        if available < amount.unit_count:
            raise InsufficientFunds() from None
        refusal = RefundNotAllowed()
        refusal.replayed = getattr(exc, "replayed", False)
        raise refusal from None


def refund_to_balance(*, purchase_entry_id: int, actor: Ref, reason: Ref, idempotency_key: Ref) -> PostResult:
    return entry_reverse(entry_id=purchase_entry_id, actor=actor, reason=reason, idempotency_key=idempotency_key)
