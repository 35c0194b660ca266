"""Django's PostgreSQL backend, with a cheaper connection health check.

With CONN_HEALTH_CHECKS, Django asks PostgreSQL `SELECT 1` before the first query of every
request that reuses a connection: a round trip per request, about a tenth of a ledger deposit's
time under load. A connection between requests has nothing in flight, so the server has no
reason to write to it; when it does, it is closing the connection (a restart, an administrator,
an idle timeout) or it has a notice to give. This backend looks at the socket without blocking:
nothing to read means the connection is as it was; anything to read, or a connection already
known to be broken, gets Django's own check. A connection lost without the server saying so
(a network cut) is caught by neither check: both would wait on the socket."""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        raw = self.connection
        if raw is None or raw.closed or raw.broken:
            return False
        try:
            readable, _, _ = select.select([raw.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
