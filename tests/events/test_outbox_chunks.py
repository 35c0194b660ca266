"""In-process consumers run at fan-out. One that takes a chunk of messages at once (consume_many)
has the same exactly-once effect as one message at a time, and a failing chunk falls back to one
by one."""

import pytest
from django.db import transaction

from apps.events.models import DeliveryAttempt, OutboxDelivery
from apps.events.registry import outbox_consumer_register, outbox_consumer_unregister
from apps.events.services.outbox import outbox_publish_many
from apps.events.tasks import outbox_delivery_attempt_task, outbox_messages_fanout_task
from apps.identity.models import User
from tests.events.conftest import make_due
from tests.factories.identity import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chunk_consumer():
    calls = {"many": [], "one": []}
    behaviour = {"many_fails": False, "one_fails_for": None}

    def consume_many(*, messages):
        calls["many"].append(sorted(m.pk for m in messages))
        User.objects.create(username=f"chunk-write-{len(calls['many'])}")
        if behaviour["many_fails"]:
            raise RuntimeError("the chunk fails")

    def consume(*, message):
        calls["one"].append(message.pk)
        if message.pk == behaviour["one_fails_for"]:
            raise ValueError("this message fails")

    outbox_consumer_register(
        "test-chunks",
        consume=consume,
        consume_many=consume_many,
        wants=lambda *, message: message.topic == "chunk.test",
    )
    yield calls, behaviour
    outbox_consumer_unregister("test-chunks")


def _publish(capture, count: int) -> list[int]:
    users = [UserFactory() for _ in range(count)]
    with capture(execute=True), transaction.atomic():
        return outbox_publish_many(messages=[("chunk.test", {"n": n}, users[n]) for n in range(count)])


def test_a_chunk_is_consumed_in_one_call_and_every_delivery_is_settled(
    chunk_consumer, django_capture_on_commit_callbacks
):
    calls, _ = chunk_consumer
    ids = _publish(django_capture_on_commit_callbacks, 5)

    assert calls == {"many": [sorted(ids)], "one": []}
    deliveries = OutboxDelivery.objects.filter(consumer="test-chunks")
    assert sorted(deliveries.values_list("status", flat=True)) == ["delivered"] * 5
    assert all(d.attempts == 1 and d.delivered_at is not None for d in deliveries)
    assert DeliveryAttempt.objects.filter(delivery__in=deliveries, succeeded=True).count() == 5
    # tasks delivered again by the broker find nothing left to do
    outbox_messages_fanout_task(ids)
    for delivery in deliveries:
        outbox_delivery_attempt_task(delivery.pk)
    assert len(calls["many"]) == 1
    assert calls["one"] == []
    assert OutboxDelivery.objects.filter(consumer="test-chunks").count() == 5


def test_a_failing_chunk_leaves_nothing_and_each_message_is_tried_alone(
    chunk_consumer, django_capture_on_commit_callbacks
):
    calls, behaviour = chunk_consumer
    behaviour["many_fails"] = True
    users_before = User.objects.count()
    users = [UserFactory() for _ in range(4)]
    # published first, relayed once the failing message is chosen
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        ids = outbox_publish_many(messages=[("chunk.test", {"n": n}, users[n]) for n in range(4)])
    behaviour["one_fails_for"] = ids[2]
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    assert calls["many"] == [sorted(ids)]
    assert sorted(calls["one"]) == sorted(ids)
    assert not User.objects.filter(username__startswith="chunk-write-").exists()
    assert User.objects.count() == users_before + 4
    statuses = dict(OutboxDelivery.objects.filter(consumer="test-chunks").values_list("message_id", "status"))
    assert statuses == {ids[0]: "delivered", ids[1]: "delivered", ids[2]: "pending", ids[3]: "delivered"}
    failed = OutboxDelivery.objects.get(message_id=ids[2], consumer="test-chunks")
    assert failed.attempts == 1 and "this message fails" in failed.last_error
    assert failed.next_attempt_at > failed.created_at  # retried later, by the delivery task

    behaviour["one_fails_for"] = None
    make_due(failed)
    outbox_delivery_attempt_task(failed.pk)
    failed.refresh_from_db()
    assert failed.status == "delivered" and failed.attempts == 2
    assert list(failed.attempt_log.order_by("pk").values_list("succeeded", flat=True)) == [False, True]
