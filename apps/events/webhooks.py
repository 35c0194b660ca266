"""Sending one outbox message to one webhook subscriber, signed."""

import json
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from apps.events.signing import signature_compute

RESPONSE_EXCERPT_LIMIT = 500


@dataclass
class SendResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


def webhook_body(message) -> bytes:
    """The exact bytes that are signed and sent."""
    document = {
        "id": str(message.uuid),
        "topic": message.topic,
        "createdAt": message.created_at.isoformat(),
        "payload": message.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def webhook_send(*, delivery) -> SendResult:
    message, subscription = delivery.message, delivery.subscription
    body = webhook_body(message)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Khata-Webhooks/1",
        "X-Khata-Event-Id": str(message.uuid),
        "X-Khata-Topic": message.topic,
        "X-Khata-Delivery-Id": str(delivery.pk),
        "X-Khata-Timestamp": str(timestamp),
        "X-Khata-Signature": signature_compute(secret=subscription.secret, timestamp=timestamp, body=body),
    }
    started = time.monotonic()
    try:
        response = requests.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return SendResult(False, None, f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT_LIMIT], _elapsed_ms(started))
    ok = 200 <= response.status_code < 300
    error = "" if ok else f"HTTP {response.status_code}: {response.text[:RESPONSE_EXCERPT_LIMIT]}"
    return SendResult(ok, response.status_code, error, _elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
