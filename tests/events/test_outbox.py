import json
from datetime import timedelta

import pytest
from django.db import transaction

from apps.events.models import DeliveryAttempt, OutboxDelivery, OutboxMessage
from apps.events.registry import outbox_consumer_register, outbox_consumer_unregister
from apps.events.retry_policy import DELIVERY_MAX_ATTEMPTS
from apps.events.services.outbox import (
    OutboxOutsideTransaction,
    outbox_delivery_retry,
    outbox_publish,
    webhook_subscription_create,
)
from apps.events.signing import signature_verify
from apps.events.tasks import outbox_delivery_attempt_task, outbox_message_fanout_task, outbox_sweep_task
from tests.events.conftest import make_due
from tests.events.receiver import Receiver

pytestmark = pytest.mark.django_db


def _publish(capture, topic="sample.awarded", payload=None) -> OutboxMessage:
    with capture(execute=True), transaction.atomic():
        return outbox_publish(topic=topic, payload=payload or {"userId": "bob", "points": 180})


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(OutboxOutsideTransaction):
        outbox_publish(topic="sample.awarded", payload={})
    assert not OutboxMessage.objects.exists()


def test_webhook_receives_a_signed_body_that_verifies(django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        subscription = webhook_subscription_create(name="crm", url=receiver.url, topics=["sample.awarded"])

        message = _publish(django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = request["headers"]
    assert signature_verify(
        secret=subscription.secret,
        timestamp=headers["X-Khata-Timestamp"],
        body=request["body"],
        signature=headers["X-Khata-Signature"],
    )
    assert not signature_verify(
        secret="whsec_wrong",
        timestamp=headers["X-Khata-Timestamp"],
        body=request["body"],
        signature=headers["X-Khata-Signature"],
    )
    assert not signature_verify(
        secret=subscription.secret,
        timestamp=headers["X-Khata-Timestamp"],
        body=request["body"] + b" ",
        signature=headers["X-Khata-Signature"],
    )
    document = json.loads(request["body"])
    assert document == {
        "id": str(message.uuid),
        "topic": "sample.awarded",
        "createdAt": message.created_at.isoformat(),
        "payload": {"userId": "bob", "points": 180},
    }
    assert headers["X-Khata-Event-Id"] == str(message.uuid)
    delivery = OutboxDelivery.objects.get(message=message)
    assert delivery.status == OutboxDelivery.Status.DELIVERED
    assert DeliveryAttempt.objects.get(delivery=delivery).status_code == 200


def test_webhook_5xx_is_retried_with_backoff_until_it_succeeds(django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        receiver.status_codes = [500]
        webhook_subscription_create(name="crm", url=receiver.url)

        message = _publish(django_capture_on_commit_callbacks)
        delivery = OutboxDelivery.objects.get(message=message)
        assert delivery.status == OutboxDelivery.Status.PENDING
        assert (delivery.attempts, delivery.last_status_code) == (1, 500)
        assert "receiver trouble" in delivery.last_error

        assert outbox_delivery_attempt_task(delivery.pk) == "skipped"  # not due yet
        make_due(delivery)
        assert outbox_delivery_attempt_task(delivery.pk) == "processed"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (OutboxDelivery.Status.DELIVERED, 2)
    assert [a.succeeded for a in delivery.attempt_log.order_by("id")] == [False, True]
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]


def test_unreachable_webhook_fails_after_max_attempts_and_staff_can_retry(django_capture_on_commit_callbacks):
    webhook_subscription_create(name="gone", url="http://127.0.0.1:1/hooks")
    message = _publish(django_capture_on_commit_callbacks)
    delivery = OutboxDelivery.objects.get(message=message)
    for _ in range(DELIVERY_MAX_ATTEMPTS - 1):
        make_due(delivery)
        outbox_delivery_attempt_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == OutboxDelivery.Status.FAILED
    assert delivery.attempt_log.count() == DELIVERY_MAX_ATTEMPTS
    assert "ConnectionError" in delivery.last_error

    with Receiver() as receiver:
        delivery.subscription.url = receiver.url
        delivery.subscription.save()
        with django_capture_on_commit_callbacks(execute=True):
            assert outbox_delivery_retry(delivery=delivery)

    delivery.refresh_from_db()
    assert delivery.status == OutboxDelivery.Status.DELIVERED


def test_subscription_gets_only_its_topics_and_disabled_ones_get_nothing(django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        webhook_subscription_create(name="fees only", url=receiver.url, topics=["fee.charged"])
        disabled = webhook_subscription_create(name="off", url=receiver.url)
        disabled.is_active = False
        disabled.save()

        _publish(django_capture_on_commit_callbacks, topic="sample.awarded")

    assert receiver.requests == []
    assert not OutboxDelivery.objects.exists()


def test_in_process_consumer_sees_each_message_exactly_once(django_capture_on_commit_callbacks):
    seen = []
    outbox_consumer_register(
        "test-counter", consume=lambda *, message: seen.append(message.pk), wants=lambda *, message: True
    )
    try:
        message = _publish(django_capture_on_commit_callbacks)
        # a duplicate fan-out and a duplicate delivery task (e.g. redelivered by the broker)
        outbox_message_fanout_task(message.pk)
        delivery = OutboxDelivery.objects.get(message=message, consumer="test-counter")
        outbox_delivery_attempt_task(delivery.pk)
    finally:
        outbox_consumer_unregister("test-counter")

    assert seen == [message.pk]
    assert OutboxDelivery.objects.filter(message=message).count() == 1


def test_failing_consumer_rolls_back_its_writes_and_is_retried(django_capture_on_commit_callbacks):
    from apps.identity.models import User

    calls = []

    def consume(*, message):
        calls.append(message.pk)
        User.objects.create(username=f"consumer-write-{len(calls)}")
        if len(calls) == 1:
            raise ValueError("first try fails")

    outbox_consumer_register("test-flaky", consume=consume, wants=lambda *, message: True)
    try:
        message = _publish(django_capture_on_commit_callbacks)
        delivery = OutboxDelivery.objects.get(message=message)
        assert delivery.status == OutboxDelivery.Status.PENDING
        assert not User.objects.filter(username__startswith="consumer-write-").exists()
        make_due(delivery)
        outbox_delivery_attempt_task(delivery.pk)
    finally:
        outbox_consumer_unregister("test-flaky")

    delivery.refresh_from_db()
    assert delivery.status == OutboxDelivery.Status.DELIVERED
    assert list(User.objects.filter(username__startswith="consumer-write-").values_list("username", flat=True)) == [
        "consumer-write-2"
    ]


def test_sweeper_relays_messages_written_while_the_broker_was_down(
    broker_unreachable, django_capture_on_commit_callbacks
):
    from config.celery import app as celery_app

    with Receiver() as receiver:
        webhook_subscription_create(name="crm", url=receiver.url)
        message = _publish(django_capture_on_commit_callbacks)
        assert message.deliveries.count() == 0  # nothing relayed: the broker is down

        celery_app.conf.task_always_eager = True
        assert outbox_sweep_task() == 0  # not overdue yet
        OutboxMessage.objects.filter(pk=message.pk).update(created_at=message.created_at - timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            assert outbox_sweep_task() == 1

    assert len(receiver.requests) == 1
    assert OutboxDelivery.objects.get(message=message).status == OutboxDelivery.Status.DELIVERED
