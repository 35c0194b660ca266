"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the subscriber's secret.

Headers sent: `X-Khata-Timestamp: <unix seconds>` and `X-Khata-Signature: v1=<hex digest>`.
A receiver recomputes the digest over the raw body and rejects old timestamps (replays).
"""

import hashlib
import hmac
import secrets
import time

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def webhook_secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signature_verify(
    *, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = signature_compute(secret=secret, timestamp=ts, body=body)
    return hmac.compare_digest(expected, signature)
