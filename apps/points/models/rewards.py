"""The reward catalogue: items and currency credits users buy with points, the per-country rate
a credit converts points at, and each user's redemptions.

A redemption's points leave the user's account in one ledger entry (`redemption:<user>:<key>`);
a cancelled one is returned by a reversal of that entry, so the ledger alone explains every
point spent or given back."""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.points.models.configuration import Country, TsTzRange

__all__ = ["Reward", "CreditRate", "Redemption"]


class Reward(models.Model):
    """One entry of the catalogue, managed by Marketing. `stock` is what is left to redeem
    (empty: unlimited); each redemption takes one, a cancellation puts it back."""

    class Kind(models.TextChoices):
        ITEM = "item", "Item (fulfilled by staff)"
        CREDIT = "credit", "Currency credit (at the country's rate)"

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    image_url = models.URLField(blank=True, help_text="A picture hosted elsewhere (no uploads).")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ITEM)
    cost_points = models.BigIntegerField(validators=[MinValueValidator(1)], help_text="Points one redemption costs.")
    stock = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0)], help_text="How many are left. Empty: unlimited."
    )
    per_user_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="How many one user may redeem (cancelled ones do not count). Empty: no limit.",
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty: until further notice.")
    is_active = models.BooleanField(default=True, help_text="Untick to withdraw the reward at once.")
    countries = models.ManyToManyField(
        Country, blank=True, related_name="rewards", help_text="Where users may redeem it. None chosen: everywhere."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords(m2m_fields=[countries])

    class Meta:
        ordering = ["cost_points", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cost_points__gt=0), name="points_reward_cost_positive"),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="points_reward_stock_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(per_user_limit__isnull=True) | Q(per_user_limit__gt=0),
                name="points_reward_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="points_reward_window_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cost_points} points)"


class CreditRate(models.Model):
    """How much currency one point buys in a country (major units per point, e.g. 0.01 SGD),
    in force over [valid_from, valid_to); one rate per country at any time."""

    country = models.ForeignKey(Country, on_delete=models.PROTECT, related_name="credit_rates")
    rate = models.DecimalField(
        max_digits=24,
        decimal_places=12,
        validators=[MinValueValidator(Decimal("0.000000000001"))],
        help_text="Currency major units per point, e.g. 0.01 for one cent.",
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty: in force until further notice.")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["country__code", "-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="points_creditrate_positive"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="points_creditrate_window_order",
            ),
            # one rate in force per country at any time
            ExclusionConstraint(
                name="points_creditrate_no_overlap",
                expressions=[
                    ("country", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country.code} {format(self.rate.normalize(), 'f')} {self.country.currency} per point"


class Redemption(models.Model):
    """A user's purchase of a reward. Items wait (pending) for staff to fulfil or cancel them;
    credits are paid at once (fulfilled). (user, idempotency_key) is unique: a retried request
    finds the first redemption instead of spending twice."""

    class Status(models.TextChoices):
        PENDING = "pending"
        FULFILLED = "fulfilled"
        CANCELLED = "cancelled", "cancelled (points returned)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="points_redemptions")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    kind = models.CharField(max_length=10, choices=Reward.Kind.choices)
    points = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    country_code = models.CharField(max_length=2, blank=True, help_text="The user's country when they redeemed.")
    entry_id = models.BigIntegerField(help_text="The ledger entry that took the points (and paid a credit).")
    reversal_entry_id = models.BigIntegerField(null=True, blank=True, help_text="The entry that returned them.")
    credit_rate = models.ForeignKey(
        CreditRate, null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions"
    )
    unit_token = models.CharField(max_length=16, blank=True, help_text="A credit's currency.")
    unit_count = models.BigIntegerField(null=True, blank=True, help_text="A credit's amount, in micros.")
    created_at = models.DateTimeField(default=timezone.now)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who made the last change: the user when redeeming, staff when fulfilling or cancelling.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("fulfil_redemption", "Can mark reward redemptions fulfilled or cancel them")]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="points_redemption_once_per_key"),
            models.CheckConstraint(condition=Q(points__gt=0), name="points_redemption_positive"),
            models.CheckConstraint(
                condition=Q(status="cancelled", reversal_entry_id__isnull=False, cancelled_at__isnull=False)
                | Q(status__in=["pending", "fulfilled"], reversal_entry_id__isnull=True),
                name="points_redemption_reversed_when_cancelled",
            ),
            models.CheckConstraint(
                condition=Q(kind="item", unit_count__isnull=True)
                | Q(kind="credit", unit_count__gt=0, credit_rate__isnull=False) & ~Q(unit_token=""),
                name="points_redemption_credit_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="points_redemption_user_time"),
            models.Index(fields=["reward", "user"], name="points_redemption_reward_user"),
            models.Index(fields=["created_at"], name="points_redemption_pending", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"redemption #{self.pk}: {self.reward.name} for {self.user} ({self.status})"
