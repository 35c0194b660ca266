"""Partners that receive exchanges out, behind one interface (base.ExchangePartner), chosen
by the partner's `exchange_client` kind: `partner_client_for(partner)`."""

from apps.points.partners.base import (
    ExchangePartner,
    PartnerConfirmation,
    PartnerCredit,
    PartnerRefused,
    PartnerUnavailable,
)
from apps.points.partners.registry import partner_client_for

__all__ = [
    "ExchangePartner",
    "PartnerConfirmation",
    "PartnerCredit",
    "PartnerRefused",
    "PartnerUnavailable",
    "partner_client_for",
]
