"""Celery tasks: load by id, call one service, own the retry schedule."""

from celery import shared_task

from apps.events.broker import tasks_publish
from apps.events.retry_policy import SWEEP_BATCH, SWEEP_GRACE
from apps.events.services.inbound import (
    inbound_event_process,
    inbound_events_due,
    inbound_events_enqueue,
    inbound_events_process_batch,
)
from apps.events.services.outbox import (
    outbox_deliveries_enqueue,
    outbox_delivery_attempt,
    outbox_due,
    outbox_messages_enqueue,
    outbox_messages_fanout,
)


def _schedule_retry(task, argument, delay: int) -> None:
    tasks_publish(task, [argument], countdown=delay)


@shared_task(acks_late=True)
def inbound_events_dispatch_task(event_ids: list[int]) -> list[str]:
    settled = inbound_events_process_batch(event_ids=event_ids)
    statuses = []
    for event_id in event_ids:
        outcome = settled.get(event_id) or inbound_event_process(event_id=event_id)
        if outcome.status == "retry":
            _schedule_retry(inbound_events_dispatch_task, [event_id], outcome.retry_in)
        statuses.append(outcome.status)
    return statuses


@shared_task(acks_late=True)
def inbound_events_sweep_task() -> int:
    event_ids = inbound_events_due(grace=SWEEP_GRACE, limit=SWEEP_BATCH)
    return inbound_events_enqueue(event_ids=event_ids)


@shared_task(acks_late=True)
def outbox_messages_fanout_task(message_ids: list[int]) -> int:
    return len(outbox_messages_fanout(message_ids=message_ids))


@shared_task(acks_late=True)
def outbox_message_fanout_task(message_id: int) -> int:
    return len(outbox_messages_fanout(message_ids=[message_id]))


@shared_task(acks_late=True)
def outbox_delivery_attempt_task(delivery_id: int) -> str:
    outcome = outbox_delivery_attempt(delivery_id=delivery_id)
    if outcome.status == "retry":
        _schedule_retry(outbox_delivery_attempt_task, delivery_id, outcome.retry_in)
    return outcome.status


@shared_task(acks_late=True)
def outbox_sweep_task() -> int:
    message_ids, delivery_ids = outbox_due(grace=SWEEP_GRACE, limit=SWEEP_BATCH)
    outbox_messages_enqueue(message_ids=message_ids)
    outbox_deliveries_enqueue(delivery_ids=delivery_ids)
    return len(message_ids) + len(delivery_ids)
