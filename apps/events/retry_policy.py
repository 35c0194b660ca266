"""Backoff for anything that is retried: inbound event handlers and outbox deliveries."""

from dataclasses import dataclass
from datetime import timedelta

INBOUND_MAX_ATTEMPTS = 5
DELIVERY_MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 30 * 60
# Work still pending this long after it was due is re-enqueued by the sweepers
# (e.g. the broker was down when it was first enqueued).
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_BATCH = 500


def backoff_delay(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failure: 10, 20, 40, ... capped at 30 min."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)


# A task may arrive a little before the time the database says it is due.
EARLY_ARRIVAL_SLACK = timedelta(seconds=2)
ERROR_TEXT_LIMIT = 2000


@dataclass
class ProcessOutcome:
    status: str  # processed | retry | failed | skipped
    retry_in: int | None = None
