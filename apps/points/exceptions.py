from config.errors import BusinessRuleRefused, Conflict, InvalidInput, KhataError, NotFoundError


class ConfigurationMissing(KhataError):
    """A multiplier (or country, or user) the calculation needs is not configured for the
    transaction's time. Never guessed: the transaction waits for retry, then dead-letters."""

    status_code = 422
    code = "points_configuration_missing"
    message = "The points configuration this transaction needs is missing."


class UnknownUser(NotFoundError):
    code = "unknown_user"
    message = "No user has this userId."


class InvalidTransaction(InvalidInput):
    code = "invalid_transaction"


class MultiplierInForce(BusinessRuleRefused):
    code = "multiplier_in_force"
    message = "A multiplier that has taken effect cannot change; close it and add a new one."


class PartnerNotConfigured(BusinessRuleRefused):
    code = "partner_not_configured"
    message = "This API client is not linked to a points partner."


class TransactionIdReused(Conflict):
    code = "transaction_id_reused"
    message = "This transactionId was already awarded for a different transaction."


class RewardNotAvailable(BusinessRuleRefused):
    code = "not_available"
    message = "This reward cannot be redeemed now."


class RewardOutOfStock(BusinessRuleRefused):
    code = "out_of_stock"
    message = "This reward is out of stock."


class RewardLimitReached(BusinessRuleRefused):
    code = "limit_reached"
    message = "You have redeemed this reward as many times as one person may."


class UnknownPartner(InvalidInput):
    code = "unknown_partner"
    message = "No partner has this partnerId."


class ExchangeNotEnabled(BusinessRuleRefused):
    code = "exchange_not_enabled"
    message = "This partner does not take exchanges in this direction."


class ExchangeRateMissing(BusinessRuleRefused):
    code = "exchange_rate_missing"
    message = "No exchange rate is in force for this partner and direction."


class ExchangeTooSmall(BusinessRuleRefused):
    code = "exchange_too_small"
    message = "At the rate in force this converts to 0 points."


class ExchangeOutOfLimits(BusinessRuleRefused):
    code = "exchange_out_of_limits"
    message = "The points are outside this partner's limits per exchange."


class InsufficientPoints(BusinessRuleRefused):
    code = "insufficient_points"
    message = "You do not have enough points."


class UnknownReward(InvalidInput):
    code = "unknown_reward"
    message = "No reward has this id."


class RedemptionNotFound(NotFoundError):
    code = "not_found"
    message = "No redemption of yours has this id."


class RedemptionNotPending(Conflict):
    """Only a pending item can be fulfilled or cancelled: a credit is paid at once, and a
    fulfilled or cancelled redemption is settled."""

    code = "redemption_not_pending"
    message = "This redemption is no longer pending."


class NotAPartner(KhataError):
    status_code = 403
    code = "not_a_partner"
    message = "This API client is not linked to a points partner."
