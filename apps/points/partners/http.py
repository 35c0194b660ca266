"""A partner's loyalty API, over HTTP.

The contract: `POST {exchange_endpoint}` with a JSON body
`{"exchangeId", "userId", "points" (partner points to credit), "khataPoints", "rate"}` and headers
`Idempotency-Key: khata-exchange-<id>` (the same on every retry of one exchange: the partner
credits a key at most once and answers a repeat with the first reference),
`X-Khata-Timestamp: <unix seconds>` and `X-Khata-Signature: v1=<hex HMAC-SHA256 of
"<timestamp>.<raw body>" with the partner's exchange secret>` (as Khata's webhooks sign).
200/201 `{"reference": "<their confirmation id>"}` confirms. Any other 4xx (but 408 and 429) is a
definitive refusal; timeouts, 408, 429, 5xx and malformed answers mean "unavailable, ask again".
"""

import json
import time

import requests
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from apps.events.signing import signature_compute
from apps.points.partners.base import (
    ExchangePartner,
    PartnerConfirmation,
    PartnerCredit,
    PartnerRefused,
    PartnerUnavailable,
)

# the exchange row stays locked while the partner answers: keep this short
TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.0
RETRYABLE_4XX = {408, 429}
REFERENCE_LIMIT = 128


class HttpPartner(ExchangePartner):
    @method_decorator(sensitive_variables("secret", "headers"))
    def credit(self, credit: PartnerCredit) -> PartnerConfirmation:
        secret = self.partner.exchange_secret
        if not self.partner.exchange_endpoint or not secret:
            raise PartnerUnavailable("the partner has no endpoint or signing secret configured")
        body = json.dumps(
            {
                "exchangeId": credit.exchange_id,
                "userId": credit.user_id,
                "points": credit.partner_points,
                "khataPoints": credit.points,
                "rate": str(credit.rate.normalize()),
            },
            separators=(",", ":"),
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": credit.idempotency_key,
            "X-Khata-Timestamp": str(timestamp),
            "X-Khata-Signature": signature_compute(secret=secret, timestamp=timestamp, body=body),
        }
        try:
            response = requests.post(
                self.partner.exchange_endpoint,
                data=body,
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS), TIMEOUT_SECONDS),
            )
        except requests.RequestException as exc:
            raise PartnerUnavailable(f"{type(exc).__name__} calling the partner") from None
        status = response.status_code
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise PartnerRefused(f"the partner answered HTTP {status}: {response.text[:200]}")
        if status not in (200, 201):
            raise PartnerUnavailable(f"the partner answered HTTP {status}")
        try:
            reference = response.json()["reference"]
            if not isinstance(reference, str) or not 0 < len(reference) <= REFERENCE_LIMIT:
                raise ValueError("bad reference")
        except (ValueError, KeyError, TypeError):
            raise PartnerUnavailable("the partner answered a malformed body") from None
        return PartnerConfirmation(reference)
