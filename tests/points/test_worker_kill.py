"""A real worker killed with SIGKILL in the middle of awarding, then restarted: every
transaction is awarded exactly once and the ledger verifies."""

import signal
import time
from datetime import timedelta

import pytest
from django.db.models import Count
from rest_framework.test import APIClient

from apps.events.services.inbound import inbound_events_due, inbound_events_enqueue
from apps.identity.services import api_client_create
from apps.ledger.models import Entry
from apps.ledger.verify import ledger_verify
from apps.points.handlers import country_cache_clear
from apps.points.models import Award
from apps.points.services import awards_enqueue, awards_pending_due
from tests.factories.points import points_world, transaction_event, user_in_tier
from tests.worker_process import worker_output, worker_start, worker_stop

TRANSACTIONS = 4_000
USERS = 20
WAIT_SECONDS = 90


def _awarded() -> int:
    return Award.objects.filter(status=Award.Status.AWARDED, source="transaction").count()


@pytest.mark.worker
def test_a_worker_killed_mid_batch_awards_each_transaction_once(broker):
    country_cache_clear()
    points_world()
    for n in range(USERS):
        user_in_tier(external_id=f"k-{n}", country="SG", points=0)
    _, key = api_client_create(name="platform", scopes=["events:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    for start in range(0, TRANSACTIONS, 1_000):
        events = [
            transaction_event(transactionId=f"k-{i}", userId=f"k-{i % USERS}") for i in range(start, start + 1_000)
        ]
        assert api.post("/api/v1/events", {"events": events}, format="json").json()["accepted"] == 1_000

    # when the first awards land, the worker is killed without warning
    process = worker_start()
    deadline = time.monotonic() + WAIT_SECONDS
    while _awarded() == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _awarded()
    assert 0 < killed_at < TRANSACTIONS, (
        f"the kill did not land mid-run ({killed_at} awarded)\n{worker_output(process)}"
    )

    # a new worker, and the sweepers re-send what the dead one held unacknowledged
    process = worker_start()
    try:
        swept_at = 0.0
        while _awarded() < TRANSACTIONS and time.monotonic() < deadline:
            if time.monotonic() - swept_at > 10:  # what beat's sweepers do every 30-60 s
                inbound_events_enqueue(event_ids=inbound_events_due(grace=timedelta(0), limit=10_000))
                awards_enqueue(award_ids=awards_pending_due(grace=timedelta(0), limit=10_000))
                swept_at = time.monotonic()
            time.sleep(0.2)
    finally:
        worker_stop(process)

    from apps.events.models import InboundEvent

    assert _awarded() == TRANSACTIONS, (
        f"awards {list(Award.objects.values_list('status').annotate(Count('id')))}; events "
        f"{list(InboundEvent.objects.values_list('status', 'attempts', 'last_error').annotate(Count('id')))[:5]}\n"
        + worker_output(process)
    )
    per_reference = Award.objects.filter(source="transaction").values("reference").annotate(n=Count("id"))
    assert per_reference.count() == TRANSACTIONS and all(row["n"] == 1 for row in per_reference)
    entries = Entry.objects.filter(idempotency_type="transaction")
    assert entries.count() == TRANSACTIONS
    # member, SGD 15 food grabpay: 15 × 2 × 1 × 2 × 1 = 60 each
    assert sum(Award.objects.filter(source="transaction").values_list("points", flat=True)) == 60 * TRANSACTIONS
    assert ledger_verify().ok
