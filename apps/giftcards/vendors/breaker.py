"""A circuit breaker per vendor route, shared by every process through the cache (Redis).

After FAILURE_THRESHOLD consecutive failures the circuit opens for OPEN_SECONDS: calls fail at
once instead of piling up on a vendor that is down; the first call after that tries again.
If the cache itself is unreachable the breaker stays out of the way (calls go through).
"""

import logging
import time

from django.core.cache import cache

FAILURE_THRESHOLD = 5
OPEN_SECONDS = 30

logger = logging.getLogger(__name__)


def _keys(route_id: int) -> tuple[str, str]:
    return f"giftcards:breaker:{route_id}:failures", f"giftcards:breaker:{route_id}:open_until"


def breaker_is_open(route_id: int) -> bool:
    _, open_key = _keys(route_id)
    try:
        open_until = cache.get(open_key)
    except Exception:  # noqa: BLE001 - a cache outage must not block redemptions
        return False
    return open_until is not None and open_until > time.time()


def breaker_success(route_id: int) -> None:
    failures_key, open_key = _keys(route_id)
    try:
        cache.delete_many([failures_key, open_key])
    except Exception:  # noqa: BLE001
        logger.warning("circuit breaker state not saved (cache unreachable)", exc_info=True)


def breaker_failure(route_id: int) -> None:
    failures_key, open_key = _keys(route_id)
    try:
        cache.add(failures_key, 0, timeout=OPEN_SECONDS * 10)
        failures = cache.incr(failures_key)
        if failures >= FAILURE_THRESHOLD:
            cache.set(open_key, time.time() + OPEN_SECONDS, timeout=OPEN_SECONDS)
            cache.delete(failures_key)
            logger.warning("gift card vendor circuit opened", extra={"route_id": route_id, "seconds": OPEN_SECONDS})
    except Exception:  # noqa: BLE001
        logger.warning("circuit breaker state not saved (cache unreachable)", exc_info=True)
