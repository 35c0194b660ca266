"""The fast path for transaction.completed payloads and event envelopes reads plain payloads
exactly as the DRF serializers do, and leaves every other payload to them: it never accepts what
a serializer refuses, and never reads a value differently."""

from datetime import timedelta

import pytest
from django.utils import timezone
from djangorestframework_camel_case.util import underscoreize
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.events.registry import event_type_get, payload_validate
from apps.events.services.inbound import EnvelopeSerializer, _envelope_fast
from apps.points.handlers import TransactionCompletedPayload, transaction_completed_fast
from tests.factories.points import transaction_payload

pytestmark = pytest.mark.django_db

NOW = timezone.now()
ODD_STRINGS = st.sampled_from(
    ["", " ", " tx-1", "tx-1 ", "tx\u00e9", "tx\x00", "\ud800", "x" * 129, "x" * 64, "x" * 65, "SG", "sg", "S", "SGP"]
    + ["ID", "XX", "food", "Food", "food\n", "9food", "food_2", "grab pay", "USD", "IDR", "SGD", "points"]
)
TIMES = st.sampled_from(
    [
        NOW.isoformat(),
        NOW.isoformat().replace("+00:00", "Z"),
        (NOW - timedelta(days=3)).astimezone(timezone.get_fixed_timezone(480)).isoformat(),
        NOW.replace(tzinfo=None).isoformat(),
        NOW.date().isoformat(),
        (NOW + timedelta(minutes=4)).isoformat(),
        (NOW + timedelta(minutes=6)).isoformat(),
        "2026-02-30T10:00:00Z",
        "2026-11-21 10:00:00+08:00",
        "21/11/2026",
        " " + NOW.isoformat(),
        "9999-12-31T23:59:59-12:00",
    ]
)
ODD_VALUES = st.one_of(
    ODD_STRINGS,
    TIMES,
    st.integers(min_value=-2, max_value=2**64),
    st.sampled_from([0, 1, 15_000_000, 10**15, 10**15 + 1, True, False, None, 1.5, 15_000_000.0, [], {}]),
    st.text(max_size=5),
)
KEYS = ["transactionId", "userId", "countryCode", "vertical", "paymentType", "completedAt"]
AMOUNT_KEYS = ["unitType", "unitToken", "unitCount"]


@st.composite
def payloads(draw):
    payload = transaction_payload(transactionId="tx-1", userId=draw(st.sampled_from(["bob", "jane"])))
    if draw(st.booleans()):
        payload.update(
            countryCode="ID", amount={"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 150_000_000_000}
        )
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=3)):
        payload[key] = draw(ODD_VALUES)
    amount = dict(payload["amount"])
    for key in draw(st.lists(st.sampled_from(AMOUNT_KEYS), max_size=2)):
        amount[key] = draw(ODD_VALUES)
    payload["amount"] = draw(st.sampled_from([amount, amount, amount, None, "15", [amount]]))
    if draw(st.booleans()) and draw(st.booleans()):
        payload.pop(draw(st.sampled_from([*KEYS, "amount"])))
    if draw(st.booleans()) and draw(st.booleans()):
        payload[draw(st.sampled_from(["extra", "transaction_id", "amount_x"]))] = "x"
    if isinstance(payload.get("amount"), dict) and draw(st.booleans()) and draw(st.booleans()):
        payload["amount"]["scale"] = 6
    return payload


def _serializer_read(payload):
    serializer = TransactionCompletedPayload(data=underscoreize(payload))
    return serializer.validated_data if serializer.is_valid() else None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads())
def test_the_fast_path_never_disagrees_with_the_serializer(world, payload):
    fast = transaction_completed_fast(payload)
    read = _serializer_read(payload)
    event("fast path" if fast is not None else ("serializer accepts" if read is not None else "refused"))
    if fast is not None:
        assert read == fast


@pytest.mark.parametrize(
    "completed_at",
    [
        NOW.isoformat(),
        NOW.isoformat().replace("+00:00", "Z"),
        NOW.astimezone(timezone.get_fixed_timezone(420)).isoformat(),
    ],
)
def test_plain_payloads_take_the_fast_path_and_read_the_same(world, completed_at):
    payload = transaction_payload(completedAt=completed_at)
    fast = transaction_completed_fast(payload)
    assert fast is not None
    assert fast == _serializer_read(payload)
    assert fast["completed_at"].utcoffset() == timedelta(0)  # in the current time zone, as DRF gives it
    data, errors = payload_validate(event_type_get("transaction.completed"), payload)
    assert (data, errors) == (fast, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"countryCode": "XX"}, "countryCode"),
        ({"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 1.5}}, "unitCount"),
        ({"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": -5}}, "unitCount"),
        ({"transactionId": " "}, "transactionId"),
        ({"completedAt": (NOW + timedelta(hours=1)).isoformat()}, "completedAt"),
    ],
)
def test_payloads_off_the_fast_path_still_get_the_serializer_s_error(world, overrides, field):
    data, errors = payload_validate(event_type_get("transaction.completed"), transaction_payload(**overrides))
    assert data is None
    assert field in str(errors)


@settings(max_examples=200, deadline=None)
@given(
    event_id=st.one_of(ODD_STRINGS, ODD_VALUES),
    type_=st.one_of(st.just("transaction.completed"), ODD_VALUES),
    occurred_at=TIMES,
    payload=st.sampled_from([{"a": 1}, {}, None, [1], "x", 3]),
    extra=st.booleans(),
)
def test_the_envelope_fast_path_never_disagrees_with_the_serializer(event_id, type_, occurred_at, payload, extra):
    raw = {"event_id": event_id, "type": type_, "occurred_at": occurred_at, "payload": payload}
    if extra:
        raw["source"] = "x"
    fast = _envelope_fast(raw)
    if fast is not None:
        serializer = EnvelopeSerializer(data=raw)
        assert serializer.is_valid()
        assert serializer.validated_data == fast
