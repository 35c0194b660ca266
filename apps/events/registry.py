"""What the events app dispatches to. Domain apps fill it from AppConfig.ready().

- event types: the payload schema (a DRF serializer over snake_case keys) and the handler;
- outbox consumers: in-process code that reacts to outbox messages, exactly once each.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers


@dataclass(frozen=True)
class EventType:
    name: str
    payload_serializer: type[serializers.Serializer]
    handler: Callable[..., None]  # handler(*, event, data)
    description: str = ""
    # optional: batch_handler(*, items=[(event, data), ...]) -> {event.pk: exception} runs many
    # events in one transaction; it writes nothing for the events it returns as failed
    batch_handler: Callable[..., dict] | None = None
    # optional: payload_fast(payload) -> data or None reads a payload in its plain form (see
    # apps/events/plain_values.py) exactly as payload_serializer would; None leaves it to the serializer
    payload_fast: Callable[[dict], dict | None] | None = None


@dataclass(frozen=True)
class OutboxConsumer:
    name: str
    consume: Callable[..., None]  # consume(*, message)
    # wants(*, message) -> bool, decided when the message is relayed, from the message's topic
    # and whether it concerns a user (it is asked once per such kind in a fan-out batch)
    wants: Callable[..., bool]
    # optional: consume_many(*, messages) has the effect of consume for each message, for a whole
    # chunk at once; if it raises, nothing of it stays and the chunk is consumed one by one
    consume_many: Callable[..., None] | None = None


_EVENT_TYPES: dict[str, EventType] = {}
_CONSUMERS: dict[str, OutboxConsumer] = {}


def event_type_register(
    name: str,
    *,
    payload_serializer: type[serializers.Serializer],
    handler: Callable[..., None],
    description: str = "",
    batch_handler: Callable[..., dict] | None = None,
    payload_fast: Callable[[dict], dict | None] | None = None,
) -> EventType:
    event_type = EventType(name, payload_serializer, handler, description, batch_handler, payload_fast)
    _EVENT_TYPES[name] = event_type
    return event_type


def event_type_unregister(name: str) -> None:
    _EVENT_TYPES.pop(name, None)


def event_type_get(name: str) -> EventType | None:
    return _EVENT_TYPES.get(name)


def outbox_consumer_register(
    name: str,
    *,
    consume: Callable[..., None],
    wants: Callable[..., bool],
    consume_many: Callable[..., None] | None = None,
) -> OutboxConsumer:
    consumer = OutboxConsumer(name, consume, wants, consume_many)
    _CONSUMERS[name] = consumer
    return consumer


def outbox_consumer_unregister(name: str) -> None:
    _CONSUMERS.pop(name, None)


def outbox_consumer_get(name: str) -> OutboxConsumer | None:
    return _CONSUMERS.get(name)


def outbox_consumers() -> list[OutboxConsumer]:
    return [_CONSUMERS[name] for name in sorted(_CONSUMERS)]


def payload_validate(event_type: EventType, payload: Any) -> tuple[dict | None, dict | None]:
    """Validate a producer's camelCase payload; returns (data, None) or (None, errors)."""
    from djangorestframework_camel_case.util import camelize, underscoreize

    if not isinstance(payload, dict):
        return None, {"payload": ["Must be a JSON object."]}
    if event_type.payload_fast is not None:
        data = event_type.payload_fast(payload)
        if data is not None:
            return data, None
    serializer = event_type.payload_serializer(data=underscoreize(payload))
    if serializer.is_valid():
        return serializer.validated_data, None
    # payload keys are the producer's (camelCase): name the fields the way they were sent
    return None, {"payload": camelize(serializer.errors)}
