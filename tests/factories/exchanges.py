"""Exchange partners for tests: a partner with rates both ways, its API key, and its client kind."""

from decimal import Decimal

from django.utils import timezone

from apps.identity.services import api_client_create
from apps.points.models import ExchangeDirection, ExchangeRate, Partner


def exchange_partner(
    *,
    code: str = "miles",
    rate_out: str = "0.5",
    rate_in: str = "2",
    scopes: tuple[str, ...] = ("points:exchange",),
    **fields,
) -> tuple[Partner, str]:
    client, key = api_client_create(name=f"partner {code}", scopes=list(scopes))
    partner = Partner.objects.create(
        code=code,
        name=code.title(),
        api_client=client,
        exchange_out_enabled=True,
        exchange_in_enabled=True,
        **fields,
    )
    since = timezone.now() - timezone.timedelta(days=30)
    for direction, rate in ((ExchangeDirection.OUT, rate_out), (ExchangeDirection.IN, rate_in)):
        ExchangeRate.objects.create(partner=partner, direction=direction, rate=Decimal(rate), valid_from=since)
    return partner, key
