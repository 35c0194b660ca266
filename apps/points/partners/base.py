"""The one interface every exchange partner client implements."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal


class PartnerUnavailable(Exception):
    """The partner could not answer (timeout, 5xx, malformed reply): ask again later, with the
    same idempotency key."""


class PartnerRefused(Exception):
    """The partner answered, definitively, no (4xx): the exchange is reversed at once."""


@dataclass(frozen=True)
class PartnerCredit:
    """What the partner is asked to credit. `idempotency_key` is the same on every retry of one
    exchange; the partner must credit it at most once and answer a repeat with the same reference."""

    idempotency_key: str
    exchange_id: int
    user_id: str
    partner_points: int
    points: int
    rate: Decimal


@dataclass(frozen=True)
class PartnerConfirmation:
    reference: str


class ExchangePartner(ABC):
    def __init__(self, partner):
        self.partner = partner

    @abstractmethod
    def credit(self, credit: PartnerCredit) -> PartnerConfirmation:
        """Credit the user's partner points. Raises PartnerUnavailable or PartnerRefused."""
