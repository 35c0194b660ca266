"""A generic REST gift card vendor.

The contract (JSON both ways, `Authorization: Bearer <key>` from the environment variable the
route names):
- `POST {base}/cards/verify {"cardNumber", "pin"}` → 200 `{"valid": true, "amount": "100.00",
  "currency": "USD", "reference", "channel", "whereSold", "valueKind", "redeemed", "expired"}`, or
  200 `{"valid": false}` / 404 for an unknown card or wrong PIN. Safe: retried with backoff.
- `POST {base}/cards/{reference}/redeem` with `Idempotency-Key` → 200 `{"confirmation"}`;
  409/410/422 mean the vendor refuses for good. Not retried here: the reconciler asks again later
  with the same key.
Timeouts, 5xx, unexpected statuses and malformed bodies are "unavailable" and count toward the
route's circuit breaker.
"""

import os
import time
from decimal import Decimal
from urllib.parse import quote

import requests
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from apps.giftcards.vendors.base import CardCheck, GiftCardVendor, RedeemConfirmation, VendorRefused, VendorUnavailable
from apps.giftcards.vendors.breaker import breaker_failure, breaker_is_open, breaker_success
from apps.ledger.amounts import Amount, micros_from_major

VERIFY_TRIES = 3
BACKOFF_SECONDS = 0.2
REFUSED_STATUSES = {409, 410, 422}


class CircuitOpen(VendorUnavailable):
    pass


class HttpVendor(GiftCardVendor):
    def _headers(self, **extra) -> dict:
        headers = {"Accept": "application/json", **extra}
        key = os.environ.get(self.route.api_key_env, "") if self.route.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    @method_decorator(sensitive_variables("body", "headers"))
    def _post(self, path: str, body: dict, headers: dict) -> requests.Response:
        if breaker_is_open(self.route.pk):
            raise CircuitOpen("circuit open: the vendor failed repeatedly")
        url = self.route.base_url.rstrip("/") + path
        timeout = self.route.timeout_ms / 1000
        try:
            return requests.post(url, json=body, headers=headers, timeout=(min(timeout, 3.0), timeout))
        except requests.RequestException as exc:
            raise self._failed(f"{type(exc).__name__} calling the vendor") from None

    def _failed(self, why: str) -> VendorUnavailable:
        breaker_failure(self.route.pk)
        return VendorUnavailable(why)

    @method_decorator(sensitive_variables("card_number", "pin"))
    def verify(self, card_number: str, pin: str) -> CardCheck:
        last: VendorUnavailable | None = None
        for attempt in range(VERIFY_TRIES):
            if attempt:
                time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                check = self._verify_once(card_number, pin)
            except CircuitOpen:
                raise
            except VendorUnavailable as exc:
                last = exc
                continue
            breaker_success(self.route.pk)
            return check
        raise last or VendorUnavailable("vendor unavailable")

    @method_decorator(sensitive_variables("card_number", "pin"))
    def _verify_once(self, card_number: str, pin: str) -> CardCheck:
        response = self._post("/cards/verify", {"cardNumber": card_number, "pin": pin}, self._headers())
        if response.status_code == 404:
            return CardCheck(valid=False)
        if response.status_code != 200:
            raise self._failed(f"verify answered HTTP {response.status_code}")
        try:
            body = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("valid"), bool):
                raise ValueError("no valid flag")
            if not body["valid"]:
                return CardCheck(valid=False)
            return CardCheck(
                valid=True,
                amount=_amount(body["amount"], body["currency"]),
                reference=_text(body["reference"], 120),
                channel=body.get("channel") if body.get("channel") in ("ecommerce", "physical") else "",
                where_sold=_text(body["whereSold"], 120) if body.get("whereSold") not in (None, "") else "",
                value_kind=body.get("valueKind") if body.get("valueKind") in ("fixed", "variable") else "",
                redeemed=body.get("redeemed") is True,
                expired=body.get("expired") is True,
            )
        except (ValueError, KeyError, TypeError, ArithmeticError):  # decimal's errors are ArithmeticErrors
            raise self._failed("verify answered a malformed body") from None

    def redeem(self, reference: str, idempotency_key: str) -> RedeemConfirmation:
        response = self._post(
            f"/cards/{quote(reference, safe='')}/redeem", {}, self._headers(**{"Idempotency-Key": idempotency_key})
        )
        if response.status_code in REFUSED_STATUSES:
            breaker_success(self.route.pk)
            raise VendorRefused(f"redeem answered HTTP {response.status_code}")
        if response.status_code not in (200, 201):
            raise self._failed(f"redeem answered HTTP {response.status_code}")
        try:
            confirmation = _text(response.json()["confirmation"], 120)
        except (ValueError, KeyError, TypeError):
            raise self._failed("redeem answered a malformed body") from None
        breaker_success(self.route.pk)
        return RedeemConfirmation(confirmation)


def _text(value, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError("bad text")
    return value


def _amount(value, currency) -> Amount:
    """The vendor's decimal string in major units, exactly, as micros."""
    if not isinstance(value, str) or not isinstance(currency, str) or len(currency) != 3:
        raise ValueError("bad amount")
    return Amount("currency_micros", currency.upper(), micros_from_major(Decimal(value)))
