"""Publishing to the broker. Work is durable in PostgreSQL before it is published, so a broker
that is down is logged, not raised: the sweepers publish what is still pending later."""

import logging

from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, OSError)


def tasks_publish(task, arguments: list, *, countdown: int | None = None) -> int:
    """Send `task(argument)` for each argument, in order; stop at the first broker failure.
    Returns how many were sent."""
    for sent, argument in enumerate(arguments):
        try:
            task.apply_async((argument,), countdown=countdown)
        except BROKER_ERRORS:
            logger.warning("broker unavailable; %d %s left for the sweeper", len(arguments) - sent, task.name)
            return sent
    return len(arguments)
