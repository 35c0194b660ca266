from rest_framework import status

from config.errors import BusinessRuleRefused, Conflict, InvalidInput, KhataError


class InvalidCard(InvalidInput):
    code = "invalid_card"
    # one message for a wrong number and a wrong PIN: the answer must not tell which
    message = "The card number or PIN is not valid."


class CardExpired(BusinessRuleRefused):
    code = "card_expired"
    message = "This gift card has expired."


class AlreadyRedeemed(Conflict):
    code = "already_redeemed"
    message = "This gift card has already been redeemed."


class CardNotRedeemable(BusinessRuleRefused):
    code = "card_not_redeemable"
    message = "The card's issuer refused to redeem this card."


class UnsupportedCurrency(BusinessRuleRefused):
    code = "unsupported_currency"
    message = "Khata does not hold this card's currency."


class TooManyAttempts(KhataError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "too_many_attempts"
    message = "Too many failed attempts. Try again later."

    def __init__(self, retry_after: int):
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
        self.retry_after = retry_after


class VendorUnavailableError(KhataError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "vendor_unavailable"
    message = "The card's issuer cannot be reached right now. Nothing was charged or credited; try again shortly."


class BatchAlreadyIssued(Conflict):
    code = "batch_already_issued"
    message = "This batch was already issued and downloaded; its numbers and PINs are not shown again."


class FourEyesRequired(Conflict):
    code = "four_eyes_required"
    message = "A batch is issued by someone other than the person who created it."


class NoSandboxRoute(InvalidInput):
    code = "no_sandbox_route"
    message = "No active sandbox vendor route: add one in the admin (Gift cards › Vendor routes)."
