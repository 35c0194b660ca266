import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.events.templating import template_fields_check


class InboundEvent(models.Model):
    """An event sent by a platform service, stored before it is acknowledged."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        FAILED = "failed"

    event_id = models.CharField(max_length=128, help_text="The producer's id; repeats are duplicates.")
    type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    payload = models.JSONField()
    # indexed below without the LIKE index Django adds for a text key. No database constraint:
    # it took a share lock on the calling client's row for every event stored, one row shared by
    # every concurrent batch of that client (API clients are revoked, never deleted)
    source = models.ForeignKey(
        "identity.ApiClient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_events",
        db_index=False,
        db_constraint=False,
    )
    batch_token = models.UUIDField(editable=False, help_text="The API batch that stored it.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)
    last_replayed_at = models.DateTimeField(null=True, blank=True)
    # indexed below only where set (few events are ever replayed)
    last_replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [("replay_inboundevent", "Can replay failed inbound events")]
        # Every index is written for each event stored and again when it settles (its status
        # change cannot be a HOT update): only the ones the API, the workers and the admin read.
        constraints = [models.UniqueConstraint(fields=["event_id"], name="events_inbound_event_id_unique")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="events_inbound_pending_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["type", "-failed_at"], name="events_inbound_failed", condition=models.Q(status="failed")
            ),
            models.Index(fields=["source"], name="events_inbound_source"),
            models.Index(
                fields=["last_replayed_by"],
                name="events_inbound_replayed_by",
                condition=models.Q(last_replayed_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class OutboxMessage(models.Model):
    """A domain change to announce, written in the same transaction as the change."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    topic = models.CharField(max_length=100)
    payload = models.JSONField()
    # No database constraint on this key (db_constraint=False): see OutboxDelivery.message.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        help_text="The user this change concerns; notifications go to them.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="events_outbox_unrelayed", condition=models.Q(fanned_out_at=None)),
            models.Index(fields=["topic", "-created_at"], name="events_outbox_topic"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.uuid}"


class WebhookSubscription(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, editable=False)
    topics = ArrayField(
        models.CharField(max_length=100),
        default=list,
        blank=True,
        help_text="Topics to receive, e.g. points.awarded. Empty means every topic.",
    )
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(excluded_fields=["secret"])

    def __str__(self) -> str:
        return self.name

    def wants(self, topic: str) -> bool:
        return not self.topics or topic in self.topics


class OutboxDelivery(models.Model):
    """One message to one target: a webhook subscriber or an in-process consumer."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"
        CANCELLED = "cancelled"

    # The stream's own rows (messages, deliveries, attempts, notifications) refer to each other
    # and to users without database constraints: a constraint is checked at commit with a share
    # lock on the row it points to, for every row written, about eight per points award, and
    # those checks were an eighth of PostgreSQL's time in awarding. These rows are written only
    # by the services here, from rows they just read or wrote in the same transaction; deleting
    # a message or a user goes through Django, which applies on_delete as before.
    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False)
    # in-process deliveries have no subscription: indexed only where there is one (below)
    subscription = models.ForeignKey(
        WebhookSubscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
        db_index=False,
    )
    consumer = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "outbox deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "subscription"],
                condition=models.Q(subscription__isnull=False),
                name="events_delivery_once_per_subscription",
            ),
            models.UniqueConstraint(
                fields=["message", "consumer"],
                condition=~models.Q(consumer=""),
                name="events_delivery_once_per_consumer",
            ),
            models.CheckConstraint(
                condition=(models.Q(subscription__isnull=False) & models.Q(consumer=""))
                | (models.Q(subscription__isnull=True) & ~models.Q(consumer="")),
                name="events_delivery_one_target",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="events_delivery_pending_due", condition=models.Q(status="pending")
            ),
            models.Index(
                fields=["subscription"],
                name="events_delivery_subscription",
                condition=models.Q(subscription__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message.topic} -> {self.target_label}"

    @property
    def target_label(self) -> str:
        return f"webhook:{self.subscription_id}" if self.subscription_id else f"consumer:{self.consumer}"


class DeliveryAttempt(models.Model):
    """The delivery log: one row per try."""

    # No database constraint on this key (db_constraint=False): see OutboxDelivery.message.
    delivery = models.ForeignKey(
        OutboxDelivery, on_delete=models.CASCADE, related_name="attempt_log", db_constraint=False
    )
    attempted_at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}"


class NotificationTemplate(models.Model):
    """What a user is told when something happens, per kind (outbox topic) and language.

    Variables come from the event, e.g. "You earned {points} points for your {vertical} order".
    """

    kind = models.CharField(max_length=100, help_text="The outbox topic that triggers it, e.g. points.awarded.")
    language = models.CharField(max_length=8, default="en")
    title = models.CharField(max_length=200)
    body = models.TextField()
    channels = ArrayField(models.CharField(max_length=30), default=list, help_text="e.g. inbox")
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="events_template_kind_language")]

    def __str__(self) -> str:
        return f"{self.kind} [{self.language}]"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from apps.events.channels import channel_names

        errors = {}
        for field in ("title", "body"):
            problem = template_fields_check(getattr(self, field))
            if problem:
                errors[field] = problem
        unknown = [c for c in self.channels if c not in channel_names()]
        if not self.channels:
            errors["channels"] = "Choose at least one channel."
        elif unknown:
            errors["channels"] = f"Unknown channel(s): {', '.join(unknown)}. Known: {', '.join(channel_names())}."
        if errors:
            raise ValidationError(errors)


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    # found by user through the inbox index, by message through the once-per-message constraint;
    # no database constraint on either key (see OutboxDelivery.message)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=100)
    language = models.CharField(max_length=8)
    channel = models.CharField(max_length=30)
    title = models.CharField(max_length=200)
    body = models.TextField()
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    source_message = models.ForeignKey(
        OutboxMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_message", "user", "channel"],
                condition=models.Q(source_message__isnull=False),
                name="events_notification_once_per_message",
            ),
        ]
        indexes = [models.Index(fields=["user", "channel", "-created_at"], name="events_notification_inbox")]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.user_id}"
