"""What a publish to a broker that is down raises. Work is durable in PostgreSQL before
it is published, so callers log these and let the sweepers publish later."""

from kombu.exceptions import OperationalError

BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, OSError)
