"""Demo reward catalogue: a few rewards for SG and ID (one with 5 left, one unlimited, a credit)
and the credit rates (SG 0.01 SGD, ID 100 IDR per point). Idempotent: safe to run twice; a
reward Marketing has since edited is left as it is."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from apps.points.models import Country, CreditRate, Reward

RATES_FROM = datetime(2025, 1, 1, tzinfo=UTC)
CREDIT_RATES = (("SG", "0.01"), ("ID", "100"))
REWARDS = (
    # name, kind, cost, stock (None: unlimited), per-user limit, countries, description
    ("Kopi voucher", Reward.Kind.ITEM, 500, None, None, ("SG",), "One kopi at any partner coffee shop."),
    ("Cinema ticket", Reward.Kind.ITEM, 2_000, 5, 1, ("SG", "ID"), "One standard ticket; five left."),
    ("Batik tote bag", Reward.Kind.ITEM, 1_500, 50, 2, ("ID",), "Hand-printed tote, shipped to you."),
    ("Ride credit", Reward.Kind.CREDIT, 1_000, None, None, ("SG", "ID"), "Points into wallet credit at today's rate."),
)


@transaction.atomic
def rewards_demo_configure() -> None:
    countries = {c.code: c for c in Country.objects.filter(code__in=[code for code, _ in CREDIT_RATES])}
    for code, rate in CREDIT_RATES:
        if code in countries and not CreditRate.objects.filter(country=countries[code]).exists():
            CreditRate.objects.create(country=countries[code], rate=Decimal(rate), valid_from=RATES_FROM, note="demo")
    for name, kind, cost, stock, limit, codes, description in REWARDS:
        reward, created = Reward.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "cost_points": cost,
                "stock": stock,
                "per_user_limit": limit,
                "description": description,
                "valid_from": RATES_FROM,
            },
        )
        if created:
            reward.countries.set([countries[code] for code in codes if code in countries])
