import json
import logging
import time
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
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
from config.json_rows import json_values_insert

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


def outbox_publish_many(*, messages: list[tuple[str, dict, object]]) -> list[int]:
    """Record many (topic, payload, user) changes at once, in the transaction of the changes.
    One INSERT (a points run writes hundreds per transaction). Returns the ids, in order."""
    if not transaction.get_connection().in_atomic_block:
        raise OutboxOutsideTransaction("outbox_publish_many must run inside the transaction of the changes it reports")
    if not messages:
        return []
    # one JSON document rather than arrays: payloads can be large (a points expiry chunk lists a
    # thousand users), and a single string parameter is cheap to send where array literals are not
    rows = [[topic, payload, user.pk if user is not None else None] for topic, payload, user in messages]
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_outboxmessage (uuid, topic, payload, user_id, created_at)"
            " SELECT gen_random_uuid(), m->>0, m->1, (m->>2)::bigint, now()"
            " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(m, n) ORDER BY n RETURNING id",
            [json.dumps(rows, cls=DjangoJSONEncoder)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    transaction.on_commit(lambda: outbox_messages_enqueue(message_ids=ids))
    return ids


# Messages per fan-out task: one transaction each, so a burst of thousands of messages (a points
# run) is not thousands of tasks.
FANOUT_CHUNK = 1000


def outbox_messages_enqueue(*, message_ids: list[int]) -> None:
    from apps.events.tasks import outbox_messages_fanout_task

    chunks = [message_ids[i : i + FANOUT_CHUNK] for i in range(0, len(message_ids), FANOUT_CHUNK)]
    tasks_publish(outbox_messages_fanout_task, chunks)


def outbox_deliveries_enqueue(*, delivery_ids: list[int]) -> None:
    from apps.events.tasks import outbox_delivery_attempt_task

    tasks_publish(outbox_delivery_attempt_task, delivery_ids)


def _delivery_retries_schedule(retries: list[tuple[int, int]]) -> None:
    from apps.events.tasks import outbox_delivery_attempt_task

    for delivery_id, delay in retries:
        tasks_publish(outbox_delivery_attempt_task, [delivery_id], countdown=delay)


def outbox_messages_fanout(*, message_ids: list[int]) -> list[int]:
    """Relay many messages in one transaction: one delivery per interested webhook subscriber
    and in-process consumer. In-process consumers run here, in this transaction (one with
    consume_many takes its share of the chunk at once), so their deliveries are written already
    settled, with their effects; one whose consumer failed is written pending with its retry
    time. Returns the ids of the deliveries left pending."""
    with transaction.atomic():
        # locked by primary key alone, the relay time checked here (see inbound_events_process_batch:
        # with it in SQL, every message not yet relayed was scanned once per chunk)
        messages = [
            message
            for message in OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(pk__in=message_ids)
            .order_by("pk")
            if message.fanned_out_at is None
        ]
        if not messages:
            return []
        subscriptions = list(WebhookSubscription.objects.filter(is_active=True))
        consumers = outbox_consumers()
        webhook_rows = []
        by_consumer: dict[str, list[OutboxMessage]] = {}
        # a consumer's interest depends on the topic and whether the message concerns a user
        # (see OutboxConsumer.wants): asked once per kind of message in the batch
        wanted: dict[tuple, bool] = {}
        for message in messages:
            webhook_rows += [
                {"message_id": message.pk, "subscription_id": s.pk, "consumer": ""}
                for s in subscriptions
                if s.wants(message.topic)
            ]
            for consumer in consumers:
                kind = (consumer.name, message.topic, message.user_id is not None)
                if kind not in wanted:
                    wanted[kind] = consumer.wants(message=message)
                if wanted[kind]:
                    by_consumer.setdefault(consumer.name, []).append(message)
        webhook_ids = [
            row[0]
            for row in json_values_insert(
                model=OutboxDelivery, values=webhook_rows, ignore_conflicts=True, returning=("id",)
            )
        ]
        retries = _consumers_run(by_consumer, now=timezone.now())
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(fanned_out_at=timezone.now())
        transaction.on_commit(lambda: outbox_deliveries_enqueue(delivery_ids=webhook_ids))
        transaction.on_commit(lambda: _delivery_retries_schedule(retries))
        return webhook_ids + [delivery_id for delivery_id, _ in retries]


def _consumers_run(by_consumer: dict[str, list[OutboxMessage]], *, now) -> list[tuple[int, int]]:
    """Each consumer's first try at its messages, and their deliveries written as it ended
    (delivered, or pending with a retry time), each with its attempt. Returns the deliveries to
    retry, with their delays in seconds."""
    rows: list[dict] = []
    attempts: list[dict] = []
    retry_in: dict[int, int] = {}  # row index -> delay
    for name in sorted(by_consumer):
        # consumers lock per-user rows (e.g. a points profile): one order everywhere, by user
        messages = sorted(by_consumer[name], key=lambda m: (m.user_id or 0, m.pk))
        started = time.monotonic()
        if _consumed_together(name, messages):
            # the common case, written as plain rows: no model instance per delivery
            shared_ms = int((time.monotonic() - started) * 1000 / len(messages))
            delivered_at = timezone.now()
            for message in messages:
                rows.append(
                    {
                        "message_id": message.pk,
                        "consumer": name,
                        "status": OutboxDelivery.Status.DELIVERED,
                        "attempts": 1,
                        "next_attempt_at": now,
                        "created_at": now,
                        "delivered_at": delivered_at,
                    }
                )
                attempts.append({"attempted_at": now, "succeeded": True, "error": "", "duration_ms": shared_ms})
            continue
        for message in messages:
            delivery = OutboxDelivery(message=message, consumer=name, created_at=now, next_attempt_at=now)
            started = time.monotonic()
            ok, error = _consume(delivery)
            duration_ms = int((time.monotonic() - started) * 1000)
            outcome, attempt = _delivery_settle(
                delivery, ok=ok, error=error, status_code=None, duration_ms=duration_ms, now=now
            )
            if outcome.status == "retry":
                retry_in[len(rows)] = outcome.retry_in
            rows.append({f.attname: getattr(delivery, f.attname) for f in _DELIVERY_ROW_FIELDS})
            attempts.append(attempt)
    # no conflict is possible (the messages are locked and not fanned out yet); one would roll
    # the consumers' effects back with this transaction rather than skip its delivery
    ids = [row[0] for row in json_values_insert(model=OutboxDelivery, values=rows, returning=("id",))]
    for attempt, delivery_id in zip(attempts, ids, strict=True):
        attempt["delivery_id"] = delivery_id
    json_values_insert(model=DeliveryAttempt, values=attempts)
    return [(ids[index], delay) for index, delay in retry_in.items()]


_DELIVERY_ROW_FIELDS = [f for f in OutboxDelivery._meta.concrete_fields if not f.primary_key]


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


_DELIVERY_FIELDS = ["attempts", "last_status_code", "last_error", "status", "delivered_at", "next_attempt_at"]


def _delivery_settle(delivery: OutboxDelivery, *, ok: bool, error: str, status_code, duration_ms: int, now):
    """Record one try on `delivery` (not saved); returns (outcome, the attempt row's values)."""
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error[:ERROR_TEXT_LIMIT]
    attempt = {
        "delivery_id": delivery.pk,
        "attempted_at": now,
        "succeeded": ok,
        "status_code": status_code,
        "error": delivery.last_error,
        "duration_ms": duration_ms,
    }
    if ok:
        delivery.status = OutboxDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        return ProcessOutcome("processed"), attempt
    if delivery.attempts >= DELIVERY_MAX_ATTEMPTS:
        delivery.status = OutboxDelivery.Status.FAILED
        logger.error("outbox delivery %s failed after %d attempts", delivery.pk, delivery.attempts)
        return ProcessOutcome("failed"), attempt
    delay = backoff_delay(delivery.attempts)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    return ProcessOutcome("retry", retry_in=delay), attempt


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
        outcome, attempt = _delivery_settle(
            delivery, ok=ok, error=error, status_code=status_code, duration_ms=duration_ms, now=now
        )
        DeliveryAttempt.objects.create(**attempt)
        delivery.save(update_fields=_DELIVERY_FIELDS)
        return outcome


def _consumed_together(consumer_name: str, messages: list[OutboxMessage]) -> bool:
    """Run a consumer's consume_many over its messages in one savepoint; False when it has
    none, or when it failed (then nothing of it stays and each message is tried alone)."""
    consumer = outbox_consumer_get(consumer_name)
    if consumer is None or consumer.consume_many is None or len(messages) < 2:
        return False
    try:
        with transaction.atomic():
            consumer.consume_many(messages=messages)
    except Exception:
        logger.exception("consumer %s failed on a chunk of %d; trying one by one", consumer_name, len(messages))
        return False
    return True


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
