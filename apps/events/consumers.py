"""In-process outbox consumers owned by the events app."""

from apps.events.registry import outbox_consumer_register
from apps.events.services.notifications import (
    notifications_for_message,
    notifications_for_messages,
    notifications_wanted,
)

outbox_consumer_register(
    "notifications",
    consume=notifications_for_message,
    wants=notifications_wanted,
    consume_many=notifications_for_messages,
)
