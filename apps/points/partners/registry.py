from apps.points.models import Partner
from apps.points.partners.base import ExchangePartner
from apps.points.partners.http import HttpPartner
from apps.points.partners.sandbox import SandboxPartner

PARTNER_CLIENTS: dict[str, type[ExchangePartner]] = {
    Partner.ExchangeClient.SANDBOX: SandboxPartner,
    Partner.ExchangeClient.HTTP: HttpPartner,
}


def partner_client_for(partner: Partner) -> ExchangePartner:
    return PARTNER_CLIENTS[partner.exchange_client](partner)
