"""Reads of the reward catalogue: what a user may redeem now, the credit rate in force, and a
user's redemptions."""

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.ledger.amounts import MICROS_PER_UNIT
from apps.points.exact import floor_product
from apps.points.models import CreditRate, Redemption, Reward, in_force_at


def credit_micros(*, points: int, rate: Decimal) -> int:
    """The credit `points` buy at `rate` (major units per point), in micros:
    floor(points × rate × 1,000,000), computed exactly. Rounded down, as points are when
    earned: a fraction of a micro that the points did not buy is never paid."""
    return floor_product(points, rate, MICROS_PER_UNIT)


def credit_rate_in_force(*, country_code: str, at: datetime | None = None) -> CreditRate | None:
    """The country's points-to-currency rate at `at` (now by default); None when none is."""
    at = at or timezone.now()
    return CreditRate.objects.select_related("country").filter(in_force_at(at), country__code=country_code).first()


def rewards_open(*, country_code: str, at: datetime):
    """Active rewards in their window, offered in the country (no countries chosen: everywhere)."""
    countries = Reward.countries.through.objects.filter(reward_id=OuterRef("pk"))
    return Reward.objects.filter(in_force_at(at), is_active=True).filter(
        ~Exists(countries) | Exists(countries.filter(country__code=country_code))
    )


def rewards_available_for(*, user, balance: int, at: datetime | None = None) -> list[Reward]:
    """What `user` can redeem now, cheapest first: open in their country, in stock, within
    their per-user allowance, and (credits) with a rate in force. Each reward carries
    `affordable` (the balance covers it), `remaining_for_user` (None: no limit) and, for a
    credit, `credit_rate` and `credit_micros`."""
    at = at or timezone.now()
    used = (
        Redemption.objects.filter(user=user, reward_id=OuterRef("pk"))
        .exclude(status=Redemption.Status.CANCELLED)
        .values("reward_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    rewards = (
        rewards_open(country_code=user.country, at=at)
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .annotate(used_by_user=Coalesce(Subquery(used, output_field=IntegerField()), Value(0)))
        .filter(Q(per_user_limit__isnull=True) | Q(per_user_limit__gt=F("used_by_user")))
        .order_by("cost_points", "name", "id")
    )
    rate = credit_rate_in_force(country_code=user.country, at=at)
    available = []
    for reward in rewards:
        reward.credit_rate = reward.credit_micros = None
        if reward.kind == Reward.Kind.CREDIT:
            micros = credit_micros(points=reward.cost_points, rate=rate.rate) if rate else 0
            if micros < 1:
                continue  # no rate to pay it at in this country now
            reward.credit_rate, reward.credit_micros = rate, micros
        reward.affordable = reward.cost_points <= balance
        reward.remaining_for_user = (
            None if reward.per_user_limit is None else reward.per_user_limit - reward.used_by_user
        )
        available.append(reward)
    return available


def redemptions_for_user(*, user):
    return Redemption.objects.filter(user=user).select_related("reward").order_by("-created_at", "-id")


def redemption_for_user(*, user, redemption_id: int) -> Redemption | None:
    return redemptions_for_user(user=user).filter(pk=redemption_id).first()
