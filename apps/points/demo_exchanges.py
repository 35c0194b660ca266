"""Demo exchanges: the demo partner `acme` takes exchanges both ways through the sandbox partner,
at 0.5 Acme points per point out and 2 points per Acme point in. Idempotent."""

from decimal import Decimal

from django.db import transaction

from apps.points.demo import CONFIG_FROM
from apps.points.models import ExchangeDirection, ExchangeRate, Partner

DEMO_PARTNER = "acme"
DEMO_RATES = ((ExchangeDirection.OUT, "0.5"), (ExchangeDirection.IN, "2"))


@transaction.atomic
def exchanges_demo_configure() -> Partner:
    partner = Partner.objects.get(code=DEMO_PARTNER)
    wanted = {
        "exchange_client": Partner.ExchangeClient.SANDBOX,
        "exchange_out_enabled": True,
        "exchange_in_enabled": True,
    }
    changed = [name for name, value in wanted.items() if getattr(partner, name) != value]
    for name in changed:
        setattr(partner, name, wanted[name])
    if changed:
        partner.save(update_fields=changed)
    for direction, rate in DEMO_RATES:
        ExchangeRate.objects.get_or_create(
            partner=partner,
            direction=direction,
            valid_from=CONFIG_FROM,
            defaults={"rate": Decimal(rate), "note": "demo"},
        )
    return partner
