import uuid

from django.utils import timezone


def event_envelope(*, type: str = "user.upserted", payload: dict | None = None, event_id: str | None = None) -> dict:
    return {
        "eventId": event_id or f"evt-{uuid.uuid4()}",
        "type": type,
        "occurredAt": timezone.now().isoformat(),
        "payload": payload if payload is not None else {"userId": f"u-{uuid.uuid4().hex[:8]}", "country": "SG"},
    }
