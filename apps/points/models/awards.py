"""What was awarded and why: each user's standing, tier history and awards."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.events.models import InboundEvent
from apps.points.models.configuration import Partner, Tier

__all__ = ["PointsProfile", "TierChange", "Award", "TransactionDeadLetter"]


class PointsProfile(models.Model):
    """A user's standing: current tier and earning activity (which drives expiry)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="points_profile")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    tier_since = models.DateTimeField(null=True, blank=True)
    earned_in_window = models.BigIntegerField(default=0, help_text="Points earned in the tier window at last check.")
    tier_checked_at = models.DateTimeField(null=True, blank=True)
    last_earned_at = models.DateTimeField(null=True, blank=True, help_text="Latest earning transaction's time.")
    expires_at = models.DateField(null=True, blank=True, help_text="Points expire after this day (country time).")
    expiry_country = models.CharField(
        max_length=2, blank=True, help_text="The country whose time zone and window set the expiry date."
    )
    expiry_notice_for = models.DateField(
        null=True, blank=True, help_text="The expiry date the user was last warned about (warned once per date)."
    )

    class Meta:
        indexes = [models.Index(fields=["expiry_country", "expires_at"], name="points_profile_expiry")]

    def __str__(self) -> str:
        return f"points profile of {self.user}"


class TierChange(models.Model):
    """Every tier a user has held, from when: the tier at a past time is read from here."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    effective_at = models.DateTimeField()
    earned_in_window = models.BigIntegerField()
    reason = models.CharField(max_length=100)

    class Meta:
        ordering = ["-effective_at", "-id"]
        indexes = [models.Index(fields=["user", "effective_at"], name="points_tierchange_user_time")]

    def __str__(self) -> str:
        return f"{self.user}: {self.from_tier or '-'} -> {self.to_tier}"


class Award(models.Model):
    """Points owed for one transaction (or partner request), then posted to the ledger once.

    (source, reference) is unique: the same transaction delivered twice is one award, and the
    ledger entry's idempotency key is `<source>:<reference>`."""

    class Status(models.TextChoices):
        PENDING = "pending"
        AWARDED = "awarded"
        REFUSED = "refused", "refused by the ledger"

    source = models.CharField(max_length=60, help_text="transaction, or partner:<code>.")
    reference = models.CharField(max_length=128, help_text="The transaction id or the partner's idempotency key.")
    # looked up by the (user, transaction_at) index below; a second index on user alone would
    # only add a write to every award
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="points_awards", db_index=False
    )
    points = models.BigIntegerField()
    breakdown = models.JSONField(help_text="Every multiplier used, with its source row.")
    country_code = models.CharField(max_length=2, blank=True)
    vertical = models.CharField(max_length=40, blank=True)
    payment_type = models.CharField(max_length=40, blank=True)
    unit_token = models.CharField(max_length=16, blank=True)
    unit_count = models.BigIntegerField(null=True, blank=True)
    transaction_at = models.DateTimeField()
    # most awards come from transactions: indexed only where there is a partner (below)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="awards", db_index=False
    )
    # the event the award came from (for staff), without a database constraint: checked at commit
    # with a share lock on the event for every award (see events.OutboxDelivery.message)
    inbound_event = models.ForeignKey(
        "events.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    request_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    entry_id = models.BigIntegerField(null=True, blank=True, help_text="The ledger entry that paid the points.")
    last_error = models.TextField(blank=True, help_text="Why the ledger refused the entry (status refused).")
    created_at = models.DateTimeField(default=timezone.now)
    awarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-transaction_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "reference"], name="points_award_once_per_reference"),
            models.CheckConstraint(condition=Q(points__gt=0), name="points_award_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "refused"], entry_id__isnull=True)
                | Q(status="awarded", entry_id__isnull=False),
                name="points_award_entry_when_awarded",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "transaction_at"], name="points_award_user_time"),
            # what tier recalculation sums (points awarded in a window), without visiting the table
            models.Index(
                fields=["user", "transaction_at"],
                include=["points"],
                name="points_award_earned",
                condition=Q(status="awarded"),
            ),
            models.Index(fields=["created_at"], name="points_award_pending", condition=Q(status="pending")),
            models.Index(fields=["partner"], name="points_award_partner", condition=Q(partner__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.points} points for {self.source}:{self.reference}"

    @property
    def idempotency_key(self) -> str:
        return f"{self.source}:{self.reference}"


class TransactionDeadLetter(InboundEvent):
    """A `transaction.completed` event that failed every retry (e.g. no multiplier configured):
    listed for staff with the reason, and replayed once the configuration is fixed."""

    class Meta:
        proxy = True
        verbose_name = "dead-lettered transaction"
