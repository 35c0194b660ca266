"""Two-way point exchanges with partners: the effective-dated rates, and each exchange.

Out: a user's Khata points go to the partner's settlement account and the partner is asked to
credit its own points (pending until it confirms; reversed if it never does). In: a partner
converts its points into Khata points for a user (completed at once)."""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.points.models.configuration import Partner, TsTzRange, in_force_at

__all__ = ["ExchangeDirection", "ExchangeRate", "Exchange"]


class ExchangeDirection(models.TextChoices):
    OUT = "out", "Out (Khata points → partner points)"
    IN = "in", "In (partner points → Khata points)"


class ExchangeRateQuerySet(models.QuerySet):
    def in_force(self, *, partner, direction: str, at):
        return self.filter(in_force_at(at), partner=partner, direction=direction)


class ExchangeRate(models.Model):
    """The rate in force over [valid_from, valid_to). Out: partner points per Khata point.
    In: Khata points per partner point."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="exchange_rates")
    direction = models.CharField(max_length=3, choices=ExchangeDirection.choices)
    rate = models.DecimalField(max_digits=24, decimal_places=12, validators=[MinValueValidator(Decimal("0"))])
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty: in force until further notice.")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ExchangeRateQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["partner__code", "direction", "-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="points_exchangerate_positive"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="points_exchangerate_window_order",
            ),
            # one rate in force per partner and direction at any time
            ExclusionConstraint(
                name="points_exchangerate_no_overlap",
                expressions=[
                    ("partner", RangeOperators.EQUAL),
                    ("direction", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.code} {self.direction} ×{self.rate.normalize()}"


class Exchange(models.Model):
    """One conversion. Out is unique per (user, idempotency key) and goes pending → completed,
    or → reversed (points back) when the partner refuses or never confirms. In is unique per
    (partner, partner reference) and is completed when recorded."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (awaiting the partner)"
        COMPLETED = "completed"
        REVERSED = "reversed", "Reversed (points returned)"

    direction = models.CharField(max_length=3, choices=ExchangeDirection.choices)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="exchanges")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="points_exchanges")
    points = models.BigIntegerField(help_text="Khata points.")
    partner_points = models.BigIntegerField()
    rate = models.DecimalField(max_digits=24, decimal_places=12)
    exchange_rate = models.ForeignKey(ExchangeRate, on_delete=models.PROTECT, related_name="exchanges")
    status = models.CharField(max_length=16, choices=Status.choices)
    idempotency_key = models.CharField(max_length=128, help_text="Out: the user's key. In: the partner's reference.")
    request_hash = models.CharField(max_length=64)
    attempts = models.PositiveIntegerField(default=0, help_text="Calls to the partner that failed.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    partner_reference = models.CharField(
        max_length=128, blank=True, help_text="Out: the partner's confirmation id. In: the partner's reference."
    )
    entry_id = models.BigIntegerField(null=True, blank=True, help_text="The ledger entry that moved the points.")
    reversal_entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("retry_exchange", "Can send a pending exchange to the partner again now"),
            ("reverse_exchange", "Can reverse a pending exchange (points back to the user)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(direction="out"),
                name="points_exchange_out_once_per_key",
            ),
            models.UniqueConstraint(
                fields=["partner", "partner_reference"],
                condition=Q(direction="in"),
                name="points_exchange_in_once_per_reference",
            ),
            models.CheckConstraint(
                condition=Q(points__gt=0, partner_points__gt=0, rate__gt=0), name="points_exchange_positive"
            ),
            models.CheckConstraint(
                condition=Q(direction="out") | Q(status="completed"), name="points_exchange_in_is_completed"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(entry_id__isnull=False), name="points_exchange_entry_when_settled"
            ),
            models.CheckConstraint(
                condition=~Q(status="reversed") | Q(reversal_entry_id__isnull=False),
                name="points_exchange_reversal_entry_when_reversed",
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="points_exchange_due", condition=Q(status="pending")),
            models.Index(fields=["user", "created_at"], name="points_exchange_user_time"),
        ]

    def __str__(self) -> str:
        return f"exchange {self.pk} {self.direction} {self.partner_id} {self.points} points ({self.status})"

    @property
    def partner_idempotency_key(self) -> str:
        """What the partner dedupes on: one per exchange, the same on every retry (a user's own
        key is unique only for that user)."""
        return f"khata-exchange-{self.pk}"
