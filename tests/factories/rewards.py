"""Rewards and credit rates for tests."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from apps.points.models import Country, CreditRate, Reward


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = Reward.Kind.ITEM
    cost_points = 1_000
    stock = None
    per_user_limit = None
    valid_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))

    @factory.post_generation
    def countries(self, create, codes, **kwargs):
        if create and codes:
            self.countries.set(Country.objects.filter(code__in=codes))


def credit_rate(code: str, rate: str, *, days_ago: int = 30) -> CreditRate:
    return CreditRate.objects.create(
        country=Country.objects.get(code=code),
        rate=Decimal(rate),
        valid_from=timezone.now() - timedelta(days=days_ago),
    )
