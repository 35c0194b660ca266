"""Inbound events owned by identity: the platform telling Khata about its users."""

from rest_framework import serializers

from apps.events.registry import event_type_register
from apps.events.services.outbox import outbox_publish
from apps.identity.services import user_upsert_from_platform


class UserUpsertedPayload(serializers.Serializer):
    user_id = serializers.CharField(max_length=64)
    country = serializers.RegexField(
        r"^[A-Z]{2}$", required=False, error_messages={"invalid": "Use an ISO 3166-1 alpha-2 code, e.g. SG."}
    )
    language = serializers.CharField(max_length=8, required=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    is_employee = serializers.BooleanField(required=False)


def user_upserted_handle(*, event, data: dict) -> None:
    user, created = user_upsert_from_platform(
        external_id=data["user_id"],
        fields={key: value for key, value in data.items() if key != "user_id"},
        occurred_at=event.occurred_at,
    )
    if created:
        outbox_publish(
            topic="user.created",
            payload={"userId": user.external_id, "country": user.country, "sourceEventId": event.event_id},
            user=user,
        )


event_type_register(
    "user.upserted",
    payload_serializer=UserUpsertedPayload,
    handler=user_upserted_handle,
    description="A platform user was created or changed: {userId, country?, language?, firstName?, lastName?, isEmployee?}.",
)
