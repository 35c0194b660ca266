"""json_rows_insert writes exactly what bulk_create would, in one statement."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from django.db import IntegrityError, transaction

from apps.events.models import InboundEvent
from config.json_rows import json_rows_insert, json_values_insert

pytestmark = pytest.mark.django_db


def _event(event_id: str, payload, at: datetime) -> InboundEvent:
    return InboundEvent(
        event_id=event_id,
        type="sample.tested",
        occurred_at=at,
        payload=payload,
        received_at=at,
        next_attempt_at=at,
        batch_token=uuid4(),
    )


def test_rows_keep_every_value_and_come_back_in_order():
    at = datetime(2026, 11, 21, 10, 30, 15, 123456, tzinfo=UTC)
    payloads = [{"quote": 'say "hi"\\n', "unicode": "नमस्ते", "nested": {"list": [1, 2.5, None, True]}}, {}, "text"]
    rows = json_rows_insert(
        objs=[_event(f"json-{n}", payload, at) for n, payload in enumerate(payloads)], returning=("event_id", "id")
    )

    assert [event_id for event_id, _ in rows] == ["json-0", "json-1", "json-2"]
    assert [pk for _, pk in rows] == sorted(pk for _, pk in rows)
    stored = {e.event_id: e for e in InboundEvent.objects.filter(event_id__startswith="json-")}
    assert [stored[f"json-{n}"].payload for n in range(3)] == payloads
    assert stored["json-0"].occurred_at == at  # microseconds kept
    assert stored["json-0"].status == InboundEvent.Status.PENDING  # the model's defaults


def test_conflicts_are_skipped_only_when_asked():
    at = datetime(2026, 11, 21, tzinfo=UTC)
    json_rows_insert(objs=[_event("dup-1", {}, at)])

    rows = json_rows_insert(
        objs=[_event("dup-1", {"again": True}, at), _event("dup-2", {}, at)],
        ignore_conflicts=True,
        returning=("event_id",),
    )
    assert rows == [("dup-2",)]
    assert InboundEvent.objects.get(event_id="dup-1").payload == {}
    with pytest.raises(IntegrityError), transaction.atomic():
        json_rows_insert(objs=[_event("dup-1", {}, at), _event("dup-3", {}, at)])
    assert not InboundEvent.objects.filter(event_id="dup-3").exists()


def test_plain_values_take_the_model_defaults_and_must_name_required_fields():
    from apps.events.models import OutboxDelivery, OutboxMessage

    message = OutboxMessage.objects.create(topic="sample.tested", payload={})
    rows = json_values_insert(
        model=OutboxDelivery,
        values=[{"message_id": message.pk, "subscription_id": None, "consumer": name} for name in ("a", "b")],
        returning=("consumer", "status", "attempts"),
    )
    assert sorted(rows) == [("a", "pending", 0), ("b", "pending", 0)]
    stored = OutboxDelivery.objects.filter(message=message)
    assert len({d.created_at for d in stored}) == 1  # one `now` for the call
    with pytest.raises(KeyError):
        json_values_insert(model=OutboxDelivery, values=[{"consumer": "c"}])  # no message_id


def test_values_not_in_their_columns_plain_form_are_prepared_as_bulk_create_would():
    from decimal import Decimal

    from apps.events.models import DeliveryAttempt, OutboxDelivery, OutboxMessage

    message = OutboxMessage.objects.create(topic="sample.tested", payload={})
    delivery = OutboxDelivery.objects.create(message=message, consumer="prep")
    at = datetime(2026, 11, 21, 10, 30, 15, 123456, tzinfo=UTC)
    json_values_insert(
        model=DeliveryAttempt,
        values=[
            # a str subclass, an int for a boolean, a Decimal for an integer, a string for a time
            {
                "delivery_id": delivery.pk,
                "attempted_at": at,
                "succeeded": 1,
                "error": OutboxDelivery.Status.FAILED,
                "duration_ms": Decimal("12"),
                "status_code": "503",
            },
            {
                "delivery_id": delivery.pk,
                "attempted_at": at.isoformat(),
                "succeeded": True,
                "error": "",
                "duration_ms": 3,
            },
        ],
    )
    first, second = DeliveryAttempt.objects.filter(delivery=delivery).order_by("pk")
    assert (first.succeeded, first.error, first.duration_ms, first.status_code) == (True, "failed", 12, 503)
    assert first.attempted_at == at and second.attempted_at == at and second.status_code is None
    # a naive time gets Django's treatment (made aware in the current time zone, with a warning)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        json_values_insert(
            model=DeliveryAttempt,
            values=[{"delivery_id": delivery.pk, "attempted_at": datetime(2026, 11, 21, 10, 30), "succeeded": False}],
        )
    assert DeliveryAttempt.objects.filter(delivery=delivery).latest("pk").attempted_at.tzinfo is not None
