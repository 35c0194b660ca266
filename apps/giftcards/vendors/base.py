"""The one interface every gift card vendor implements."""

from abc import ABC, abstractmethod
from dataclasses import dataclass

from apps.ledger.amounts import Amount


class VendorUnavailable(Exception):
    """The vendor could not answer (timeout, 5xx, malformed reply, circuit open): ask again later."""


class VendorRefused(Exception):
    """The vendor answered, definitively, no."""


@dataclass(frozen=True)
class CardCheck:
    valid: bool
    amount: Amount | None = None
    reference: str = ""
    channel: str = ""
    where_sold: str = ""
    value_kind: str = ""
    redeemed: bool = False
    expired: bool = False


@dataclass(frozen=True)
class RedeemConfirmation:
    confirmation: str


class GiftCardVendor(ABC):
    def __init__(self, route):
        self.route = route

    @abstractmethod
    def verify(self, card_number: str, pin: str) -> CardCheck:
        """Is this number + PIN a card, and what is it worth? No side effects."""

    @abstractmethod
    def redeem(self, reference: str, idempotency_key: str) -> RedeemConfirmation:
        """Mark the card used at the vendor. The same key again returns the same confirmation."""
