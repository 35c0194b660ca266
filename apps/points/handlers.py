"""The completed-transactions stream: `transaction.completed` events become awards.

Bad input (an unknown country, a wrong currency, a negative or fractional amount) is rejected
when the event arrives. Missing configuration (no multiplier in force for the country and
vertical, an unknown user) is a failure of that event: it is retried with backoff, then
dead-lettered for Support to replay once the configuration is fixed — never awarded with a
guessed multiplier.
"""

import re
import time
from datetime import timedelta

from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import serializers

from apps.events.plain_values import plain_datetime, plain_int, plain_str
from apps.events.registry import event_type_register
from apps.ledger.amounts import MAX_UNIT_COUNT
from apps.ledger.api.serializers import AmountSerializer, StrictSerializer
from apps.ledger.assets import asset_get
from apps.ledger.exceptions import UnknownAsset
from apps.points.models import CODE_VALIDATOR, Country
from apps.points.services import awards_record, transaction_in

# Countries are few and rarely change; payload validation reads them from memory.
# A producer's clock may run a little ahead of ours; beyond this a completion time is refused.
CLOCK_SKEW = timedelta(minutes=5)
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
_COUNTRY_CACHE_SECONDS = 30
_countries: dict = {"loaded_at": 0.0, "currency": {}}


def country_currency(code: str) -> str | None:
    """The country's currency, from a short-lived in-process copy; a code missing from the copy
    is looked up in the database before an event is rejected for it (a country just added)."""
    if time.monotonic() - _countries["loaded_at"] > _COUNTRY_CACHE_SECONDS:
        _countries["currency"] = dict(Country.objects.values_list("code", "currency"))
        _countries["loaded_at"] = time.monotonic()
    currency = _countries["currency"].get(code)
    if currency is None:
        currency = Country.objects.filter(code=code).values_list("currency", flat=True).first()
        if currency is not None:
            _countries["currency"][code] = currency
    return currency


def country_cache_clear(**kwargs) -> None:  # noqa: ARG001 - signal signature
    _countries["loaded_at"] = 0.0


post_save.connect(country_cache_clear, sender=Country, dispatch_uid="points_country_cache_save")
post_delete.connect(country_cache_clear, sender=Country, dispatch_uid="points_country_cache_delete")


class TransactionCompletedPayload(StrictSerializer):
    transaction_id = serializers.CharField(max_length=128)
    user_id = serializers.CharField(max_length=64)
    country_code = serializers.RegexField(
        COUNTRY_CODE, error_messages={"invalid": "Use an ISO 3166-1 alpha-2 code, e.g. SG."}
    )
    vertical = serializers.CharField(max_length=40, validators=[CODE_VALIDATOR])
    payment_type = serializers.CharField(max_length=40, validators=[CODE_VALIDATOR])
    amount = AmountSerializer()
    completed_at = serializers.DateTimeField()

    def validate(self, attrs):
        if attrs["completed_at"] > timezone.now() + CLOCK_SKEW:
            raise serializers.ValidationError({"completed_at": ["Must not be in the future."]})
        currency = country_currency(attrs["country_code"])
        if currency is None:
            raise serializers.ValidationError({"country_code": [f"Unknown country '{attrs['country_code']}'."]})
        amount = attrs["amount"]
        if amount["unit_type"] != "currency_micros" or amount["unit_token"] != currency:
            raise serializers.ValidationError(
                {"amount": [f"{attrs['country_code']} transactions are in currency_micros/{currency}."]}
            )
        return attrs


_PAYLOAD_KEYS = frozenset(
    ("transactionId", "userId", "countryCode", "vertical", "paymentType", "amount", "completedAt")
)
_AMOUNT_KEYS = frozenset(("unitType", "unitToken", "unitCount"))


def _plain_code(value) -> str | None:
    code = plain_str(value, max_length=40)
    return code if code is not None and CODE_VALIDATOR.regex.search(code) else None


def transaction_completed_fast(payload: dict) -> dict | None:
    """The payload read as TransactionCompletedPayload would read it, for the plain form that
    producers send (see apps/events/plain_values.py); None for anything else, and for anything
    the serializer would refuse, so that it names the error."""
    amount = payload.get("amount")
    if payload.keys() != _PAYLOAD_KEYS or type(amount) is not dict or amount.keys() != _AMOUNT_KEYS:
        return None
    data = {
        "transaction_id": plain_str(payload["transactionId"], max_length=128),
        "user_id": plain_str(payload["userId"], max_length=64),
        "country_code": plain_str(payload["countryCode"], max_length=2),
        "vertical": _plain_code(payload["vertical"]),
        "payment_type": _plain_code(payload["paymentType"]),
        "amount": {
            "unit_type": plain_str(amount["unitType"], max_length=40),
            "unit_token": plain_str(amount["unitToken"], max_length=40),
            "unit_count": plain_int(amount["unitCount"], low=1, high=MAX_UNIT_COUNT),
        },
        "completed_at": plain_datetime(payload["completedAt"]),
    }
    if None in data.values() or None in data["amount"].values():
        return None
    code = data["country_code"]
    if not COUNTRY_CODE.search(code):
        return None
    if data["completed_at"] > timezone.now() + CLOCK_SKEW:
        return None
    if (data["amount"]["unit_type"], data["amount"]["unit_token"]) != ("currency_micros", country_currency(code)):
        return None
    try:
        asset_get("currency_micros", data["amount"]["unit_token"])
    except UnknownAsset:
        return None
    return data


def transactions_completed_handle(*, items: list) -> dict:
    transactions = [transaction_in(data, inbound_event_id=event.pk) for event, data in items]
    failures = awards_record(transactions=transactions)
    return {items[index][0].pk: error for index, error in failures.items()}


def transaction_completed_handle(*, event, data: dict) -> None:
    failures = transactions_completed_handle(items=[(event, data)])
    if failures:
        raise next(iter(failures.values()))


event_type_register(
    "transaction.completed",
    payload_serializer=TransactionCompletedPayload,
    handler=transaction_completed_handle,
    batch_handler=transactions_completed_handle,
    payload_fast=transaction_completed_fast,
    description=(
        "A completed platform transaction that earns points: {transactionId, userId, countryCode, vertical, "
        "paymentType, amount: {unitType, unitToken, unitCount}, completedAt}."
    ),
)
