from django.conf import settings
from rest_framework import serializers

from apps.events.models import Notification


class EventEnvelopeDoc(serializers.Serializer):
    """One event as sent (documentation of the envelope; each is validated on its own)."""

    event_id = serializers.CharField(max_length=128, help_text="Unique per event; a repeat is a duplicate.")
    type = serializers.CharField(help_text="A registered event type, e.g. user.upserted.")
    occurred_at = serializers.DateTimeField()
    payload = serializers.JSONField(
        help_text="Validated against the schema of the type; keys as the producer sends them."
    )


class EventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.JSONField(), allow_empty=False)

    def validate_events(self, value):
        limit = settings.EVENTS_MAX_BATCH
        if len(value) > limit:
            raise serializers.ValidationError(
                f"At most {limit} events per batch; got {len(value)}.", code="batch_too_large"
            )
        return value


class EventBatchRequestDoc(serializers.Serializer):
    events = EventEnvelopeDoc(many=True, help_text="1 to 1,000 events.")


class RejectionSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField()


class EventResultSerializer(serializers.Serializer):
    event_id = serializers.JSONField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    reason = RejectionSerializer(required=False, help_text="Only for rejected events.")


class EventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "created_at", "read_at", "is_read"]

    def get_is_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationsMarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
