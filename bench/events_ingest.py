"""Ingest throughput of POST /api/v1/events: full HTTP stack in-process (auth, parsing,
per-event validation, durable insert, enqueue to Redis after commit).

Uses its own database (khata_bench) and Redis database 14, cleaned afterwards.
Run: make bench   (or .venv/bin/python bench/events_ingest.py)
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/khata_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

BATCHES = int(os.environ.get("BENCH_BATCHES", "10"))
BATCH_SIZE = 1000


def main() -> None:
    from config.preflight import postgres_ensure

    postgres_ensure()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from apps.events.models import InboundEvent
    from apps.identity.services import api_client_create
    from config.celery import app as celery_app

    call_command("migrate", verbosity=0)
    _, key = api_client_create(name="bench", scopes=["events:write"])
    client = Client()
    timings = []
    for _ in range(BATCHES):
        events = [
            {
                "eventId": str(uuid.uuid4()),
                "type": "user.upserted",
                "occurredAt": "2026-11-21T10:00:00Z",
                "payload": {"userId": f"bench-{uuid.uuid4().hex[:12]}", "country": "SG"},
            }
            for _ in range(BATCH_SIZE)
        ]
        started = time.perf_counter()
        response = client.post(
            "/api/v1/events", {"events": events}, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
        )
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.json()["accepted"] == BATCH_SIZE, response.content[:300]

    total = sum(timings)
    print(f"events_ingest_per_s: {BATCHES * BATCH_SIZE / total:.0f}")
    print(f"batch_1000_p50_ms: {statistics.median(timings) * 1000:.0f}")
    print(f"batch_1000_max_ms: {max(timings) * 1000:.0f}")
    InboundEvent.objects.all().delete()
    celery_app.control.purge()


if __name__ == "__main__":
    main()
