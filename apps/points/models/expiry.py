"""Points expiry: each monthly run per country, and every balance it expired."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.points.models.configuration import Country

__all__ = ["ExpiryRun", "PointsExpiry"]


class ExpiryRun(models.Model):
    """One selection of users whose points expiry date passed before `as_of` (country time).

    The monthly beat run is unique per country and month; the selection is resumable (it keeps
    the last user id it enqueued) and checked once more after it finished for anything lost."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "monthly schedule"
        COMMAND = "command", "points_expire command"

    country = models.ForeignKey(Country, null=True, blank=True, on_delete=models.PROTECT, related_name="expiry_runs")
    as_of = models.DateField(help_text="Users whose expiry date is before this day are expired.")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    started_at = models.DateTimeField(default=timezone.now)
    selected_after = models.BigIntegerField(default=0, help_text="Selection cursor: the last user id enqueued.")
    users_selected = models.PositiveIntegerField(default=0)
    selected_at = models.DateTimeField(null=True, blank=True, help_text="When the selection reached the last user.")
    rechecked_at = models.DateTimeField(null=True, blank=True, help_text="When a second pass re-sent any left over.")

    class Meta:
        ordering = ["-as_of", "country__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "as_of"],
                condition=Q(trigger="schedule"),
                name="points_expiryrun_once_per_country_month",
            )
        ]

    def __str__(self) -> str:
        return f"expiry {self.country.code if self.country_id else 'all countries'} before {self.as_of}"


class PointsExpiry(models.Model):
    """A user's remaining balance expired for one passed expiry date: once per date, unless
    points came back afterwards with the date still passed (then once more per return)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="points_expiries")
    expiry_date = models.DateField()
    sequence = models.PositiveSmallIntegerField(
        default=1, help_text="2 and up: points that came back after this date's first expiry (a voided hold)."
    )
    points = models.BigIntegerField()
    country_code = models.CharField(max_length=2, blank=True)
    entry_id = models.BigIntegerField(help_text="The ledger entry that moved the points to points_expired.")
    run = models.ForeignKey(ExpiryRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="expiries")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "points expiries"
        constraints = [
            models.UniqueConstraint(fields=["user", "expiry_date", "sequence"], name="points_expiry_once_per_date"),
            models.CheckConstraint(condition=Q(points__gt=0), name="points_expiry_positive"),
        ]
        indexes = [models.Index(fields=["created_at"], name="points_expiry_created")]

    def __str__(self) -> str:
        return f"{self.points} points of {self.user} expired ({self.expiry_date})"
