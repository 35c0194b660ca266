"""Start and stop a real Celery worker process (solo pool) against this test database and Redis."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_start() -> subprocess.Popen:
    """The worker logs to a temporary file: a pipe nobody reads fills up (64 KiB) and blocks
    the worker in the middle of its work."""
    log = tempfile.TemporaryFile()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "KHATA_ENV": "test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "celery,stream",
            "--pool",
            os.environ.get("TEST_WORKER_POOL", "solo"),
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log = log
    return process


def worker_output(process: subprocess.Popen, tail: int = 3000) -> str:
    process.log.flush()
    process.log.seek(0)
    return process.log.read().decode(errors="replace")[-tail:]


def worker_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
