"""Gunicorn settings: JSON logs like the rest of Khata. Requests are logged by Django
(with the request id), so gunicorn keeps no access log of its own."""

import gc
import os

bind = os.environ.get("KHATA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
# Each worker holds at most twice its threads in connections (a thread's request and one kept
# alive waiting for its next), so clients' connections spread over the workers. Uncapped, the
# worker that woke first took 13 of a load generator's 16 connections and queued them on its
# one interpreter while the other worker idled: p99 80 ms against 55-62 ms capped, at the same
# throughput. Connections past the cap wait in the listen queue, not refused.
worker_connections = int(os.environ.get("WEB_CONNECTIONS", str(2 * threads)))
accesslog = None
# the heartbeat file each worker touches on every turn of its loop: in memory, not on disk
# (gunicorn makes it with mkstemp, private to the worker)
_SHARED_MEMORY = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def post_worker_init(worker) -> None:  # noqa: ARG001 - gunicorn hook signature
    """Load every view now, then freeze what is loaded: the garbage collector no longer walks
    objects that live as long as the worker on each full collection (see config/celery.py)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URL conf and its views
    gc.freeze()
