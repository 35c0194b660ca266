import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.events.broker import tasks_publish
from apps.events.models import DeliveryAttempt, OutboxDelivery, OutboxMessage, WebhookSubscription
from apps.events.registry import outbox_consumer_get, outbox_consumers
from apps.events.retry_policy import (
    DELIVERY_MAX_ATTEMPTS,
    EARLY_ARRIVAL_SLACK,
    ERROR_TEXT_LIMIT,
    ProcessOutcome,
    backoff_delay,
)
from apps.events.signing import webhook_secret_generate
from apps.events.webhooks import webhook_send

logger = logging.getLogger(__name__)


class OutboxOutsideTransaction(RuntimeError):
    pass


def outbox_publish(*, topic: str, payload: dict, user=None) -> OutboxMessage:
    """Record a domain change for the stream. Must run in the transaction of the change."""
    if not transaction.get_connection().in_atomic_block:
        raise OutboxOutsideTransaction("outbox_publish must run inside the transaction of the change it reports")
    message = OutboxMessage.objects.create(topic=topic, payload=payload, user=user)
    transaction.on_commit(lambda: outbox_messages_enqueue(message_ids=[message.pk]))
    return message


def outbox_publish_many(*, messages: list[tuple[str, dict, object]]) -> list[OutboxMessage]:
    """Record many (topic, payload, user) changes at once, in the transaction of the changes."""
    if not transaction.get_connection().in_atomic_block:
        raise OutboxOutsideTransaction("outbox_publish_many must run inside the transaction of the changes it reports")
    now = timezone.now()
    created = OutboxMessage.objects.bulk_create(
        [OutboxMessage(topic=topic, payload=payload, user=user, created_at=now) for topic, payload, user in messages]
    )
    ids = [message.pk for message in created]
    transaction.on_commit(lambda: outbox_messages_enqueue(message_ids=ids))
    return created


def outbox_messages_enqueue(*, message_ids: list[int]) -> None:
    from apps.events.tasks import outbox_message_fanout_task

    tasks_publish(outbox_message_fanout_task, message_ids)


def outbox_deliveries_enqueue(*, delivery_ids: list[int]) -> None:
    from apps.events.tasks import outbox_delivery_attempt_task

    tasks_publish(outbox_delivery_attempt_task, delivery_ids)


def outbox_message_fanout(*, message_id: int) -> list[int]:
    """Create one delivery per interested webhook subscriber and in-process consumer."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id, fanned_out_at=None).first()
        )
        if message is None:
            return []
        deliveries = [
            OutboxDelivery(message=message, subscription=subscription)
            for subscription in WebhookSubscription.objects.filter(is_active=True)
            if subscription.wants(message.topic)
        ]
        deliveries += [
            OutboxDelivery(message=message, consumer=consumer.name)
            for consumer in outbox_consumers()
            if consumer.wants(message=message)
        ]
        OutboxDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        message.fanned_out_at = timezone.now()
        message.save(update_fields=["fanned_out_at"])
        ids = list(message.deliveries.filter(status=OutboxDelivery.Status.PENDING).values_list("id", flat=True))
        transaction.on_commit(lambda: outbox_deliveries_enqueue(delivery_ids=ids))
        return ids


def _consume(delivery: OutboxDelivery) -> tuple[bool, str]:
    consumer = outbox_consumer_get(delivery.consumer)
    if consumer is None:
        return False, f"no consumer registered as '{delivery.consumer}'"
    try:
        with transaction.atomic():
            consumer.consume(message=delivery.message)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def outbox_delivery_attempt(*, delivery_id: int) -> ProcessOutcome:
    """Try one delivery once. A consumer's effects commit with the delivered status, so an
    in-process consumer sees each message exactly once; webhooks are at-least-once and carry
    the message id (X-Khata-Event-Id) for receivers to deduplicate."""
    with transaction.atomic():
        delivery = (
            OutboxDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("message", "subscription")
            .filter(pk=delivery_id, status=OutboxDelivery.Status.PENDING)
            .first()
        )
        now = timezone.now()
        if delivery is None or delivery.next_attempt_at > now + EARLY_ARRIVAL_SLACK:
            return ProcessOutcome("skipped")
        if delivery.subscription_id and not delivery.subscription.is_active:
            delivery.status = OutboxDelivery.Status.CANCELLED
            delivery.last_error = "subscription disabled"
            delivery.save(update_fields=["status", "last_error"])
            return ProcessOutcome("skipped")

        started = time.monotonic()
        if delivery.subscription_id:
            sent = webhook_send(delivery=delivery)
            ok, error, status_code, duration_ms = sent.ok, sent.error, sent.status_code, sent.duration_ms
        else:
            ok, error = _consume(delivery)
            status_code, duration_ms = None, int((time.monotonic() - started) * 1000)

        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error[:ERROR_TEXT_LIMIT]
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            succeeded=ok,
            status_code=status_code,
            error=delivery.last_error,
            duration_ms=duration_ms,
        )
        fields = ["attempts", "last_status_code", "last_error", "status"]
        if ok:
            delivery.status = OutboxDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.save(update_fields=[*fields, "delivered_at"])
            return ProcessOutcome("processed")
        if delivery.attempts >= DELIVERY_MAX_ATTEMPTS:
            delivery.status = OutboxDelivery.Status.FAILED
            delivery.save(update_fields=fields)
            logger.error("outbox delivery %s failed after %d attempts", delivery.pk, delivery.attempts)
            return ProcessOutcome("failed")
        delay = backoff_delay(delivery.attempts)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save(update_fields=[*fields, "next_attempt_at"])
        return ProcessOutcome("retry", retry_in=delay)


@transaction.atomic
def outbox_delivery_retry(*, delivery: OutboxDelivery) -> bool:
    """Staff action: give a failed delivery a fresh set of attempts."""
    locked = OutboxDelivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.status != OutboxDelivery.Status.FAILED:
        return False
    locked.status = OutboxDelivery.Status.PENDING
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.save(update_fields=["status", "attempts", "next_attempt_at"])
    transaction.on_commit(lambda: outbox_deliveries_enqueue(delivery_ids=[locked.pk]))
    return True


def outbox_due(*, grace: timedelta, limit: int) -> tuple[list[int], list[int]]:
    """(messages not yet fanned out, pending deliveries) overdue by more than `grace`."""
    cutoff = timezone.now() - grace
    messages = list(
        OutboxMessage.objects.filter(fanned_out_at=None, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    deliveries = list(
        OutboxDelivery.objects.filter(status=OutboxDelivery.Status.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    return messages, deliveries


@transaction.atomic
def webhook_subscription_create(
    *, name: str, url: str, topics: list[str] | None = None, description: str = ""
) -> WebhookSubscription:
    subscription = WebhookSubscription(
        name=name, url=url, topics=topics or [], description=description, secret=webhook_secret_generate()
    )
    subscription.full_clean()
    subscription.save()
    return subscription


@transaction.atomic
def webhook_subscription_disable(*, subscription: WebhookSubscription) -> None:
    """Stop sending to a subscriber; its pending deliveries are cancelled when next tried."""
    subscription.is_active = False
    subscription.save(update_fields=["is_active"])


@transaction.atomic
def webhook_subscription_rotate_secret(*, subscription: WebhookSubscription) -> str:
    subscription.secret = webhook_secret_generate()
    subscription.save(update_fields=["secret"])
    return subscription.secret
