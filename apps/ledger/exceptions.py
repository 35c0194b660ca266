from config.errors import BusinessRuleRefused, Conflict, InvalidInput, NotFoundError


class EntryNotFound(NotFoundError):
    message = "No such entry."


class HoldNotFound(NotFoundError):
    message = "No such hold."


class UnknownAsset(InvalidInput):
    code = "unknown_asset"
    message = "Unknown asset."


class AssetMismatch(InvalidInput):
    code = "asset_mismatch"
    message = "The amount's asset differs from the account's."


class InsufficientFunds(BusinessRuleRefused):
    code = "insufficient_funds"
    message = "The available balance is too low."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This idempotency key was used for a different request."


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    message = "A request with this idempotency key is still being processed; retry shortly."


class HoldNotPending(Conflict):
    code = "hold_not_pending"
    message = "The hold is no longer pending."


class HoldAmountTooLarge(InvalidInput):
    code = "hold_amount_too_large"
    message = "Cannot post more than the hold's amount."


class AlreadyReversed(Conflict):
    code = "already_reversed"
    message = "This entry has already been reversed."


class NotReversible(BusinessRuleRefused):
    code = "not_reversible"
    message = "This entry cannot be reversed."


class AccountNotFound(InvalidInput):
    code = "account_not_found"
    message = "No such account."


REFUSALS = {cls.code: cls for cls in (InsufficientFunds, NotReversible)}


class RefundNotAllowed(BusinessRuleRefused):
    code = "refund_not_allowed"
    message = "This money cannot be refunded to a payment method (its refund policy forbids it)."


# the posting function's refusal when a debit's lot filter leaves too little money to spend
LOT_FILTER_REFUSAL = "Not enough money matching the requested tags."
