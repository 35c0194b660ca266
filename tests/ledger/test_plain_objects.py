"""The direct check for small nested objects (PlainObjectSerializer) and the direct answer
building (plain_data) give exactly what DRF gives: same validated values, same errors."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from apps.ledger.amounts import MAX_UNIT_COUNT
from apps.ledger.api import serializers as s
from apps.ledger.api.plain_objects import PlainObjectSerializer, plain_data

pytestmark = pytest.mark.django_db

NESTED = [s.OwnerSerializer, s.TypedTokenSerializer, s.IdempotencyKeySerializer, s.TagSerializer, s.AmountSerializer]

# near the edges of what each field accepts: blank, padded, long, NUL, non-ASCII, numbers, booleans
texts = st.one_of(
    st.sampled_from(["", " ", "user", " user", "user ", "a\x00b", "é", "\ud800", "khata.internal", "USD", "GRP"]),
    st.text(max_size=8),
    st.integers(0, 4).map(lambda n: "x" * (38 + n)),  # around the 40-character limits
    st.integers(0, 4).map(lambda n: "y" * (126 + n)),  # around 128
    st.integers(0, 4).map(lambda n: "z" * (198 + n)),  # around 200
)
values = st.one_of(
    texts,
    st.integers(-2, 3),
    st.sampled_from([MAX_UNIT_COUNT, MAX_UNIT_COUNT + 1, 2**63, True, False, None, 1.0, 1.5, [], {}]),
)


def _objects(keys):
    known = st.dictionaries(st.sampled_from(keys), values, min_size=0, max_size=len(keys))
    complete = st.fixed_dictionaries({k: values for k in keys})
    plain = st.fixed_dictionaries({k: texts for k in keys})
    extra = st.builds(lambda d, v: {**d, "extra": v}, complete, values)
    return st.one_of(known, complete, plain, extra, values)


def _drf(serializer_class, data):
    """DRF's own validation for the class, without the direct check."""
    field = serializer_class()
    try:
        return ("ok", super(PlainObjectSerializer, field).run_validation(data))
    except serializers.ValidationError as exc:
        return ("error", exc.detail)


def _ours(serializer_class, data):
    field = serializer_class()
    try:
        return ("ok", field.run_validation(data))
    except serializers.ValidationError as exc:
        return ("error", exc.detail)


@pytest.mark.parametrize("serializer_class", NESTED, ids=lambda c: c.__name__)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_nested_objects_validate_as_drf_does(serializer_class, data):
    keys = list(serializer_class._declared_fields)
    if serializer_class is s.AmountSerializer:
        keys_values = st.fixed_dictionaries(
            {
                "unit_type": st.sampled_from(["currency_micros", "points", "currency", " points"]),
                "unit_token": st.sampled_from(["USD", "GRP", "XXX", "usd", ""]),
                "unit_count": values,
            }
        )
        body = data.draw(st.one_of(_objects(keys), keys_values))
    elif serializer_class is s.IdempotencyKeySerializer:
        body = data.draw(st.one_of(_objects(keys), st.fixed_dictionaries({"type": st.just("khata.x"), "token": texts})))
    else:
        body = data.draw(_objects(keys))

    assert _ours(serializer_class, body) == _drf(serializer_class, body)


def test_a_plain_object_takes_the_direct_path_and_an_odd_one_does_not(monkeypatch):
    built = []
    real = s.OwnerSerializer.get_fields

    def counting(self):
        built.append(True)
        return real(self)

    monkeypatch.setattr(s.OwnerSerializer, "get_fields", counting)

    assert s.OwnerSerializer().run_validation({"type": "user", "id": "42"}) == {"type": "user", "id": "42"}
    assert built == []
    assert s.OwnerSerializer().run_validation({"type": "user", "id": 42}) == {"type": "user", "id": "42"}
    assert built == [True]


def test_a_refused_idempotency_key_type_keeps_drf_s_error():
    body = {"type": "khata.points", "token": "t1"}

    assert _ours(s.IdempotencyKeySerializer, body) == _drf(s.IdempotencyKeySerializer, body)
    assert _ours(s.IdempotencyKeySerializer, body)[0] == "error"


def test_deposit_bodies_validate_the_same_through_the_whole_serializer():
    body = {
        "owner": {"type": "user", "id": "12345"},
        "creator": {"type": "user", "id": "12345"},
        "amount": {"unit_type": "currency_micros", "unit_token": "USD", "unit_count": 100_000_000},
        "reason": {"type": "gift_card_redemption", "token": "6fe0032b802a"},
        "idempotency_key": {"type": "gift_card", "token": "1234567890"},
        "tags": [{"type": "refund_policy", "token": "no_refunds"}, {"type": "credit", "token": True}],
    }
    serializer = s.DepositSerializer(data=body)

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {**body, "tags": [body["tags"][0], {"type": "credit", "token": "true"}]}


plain_ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.none())
plain_texts = st.one_of(st.text(max_size=6), st.none())
amounts_out = st.fixed_dictionaries({"unit_type": plain_texts, "unit_token": plain_texts, "unit_count": plain_ints})
balances_out = st.fixed_dictionaries(
    {
        "unit_type": plain_texts,
        "unit_token": plain_texts,
        "posted": plain_ints,
        "pending": plain_ints,
        "available": plain_ints,
    }
)
owners_out = st.fixed_dictionaries({"type": plain_texts, "id": plain_texts})
answers = {
    s.MovementResultSerializer: st.fixed_dictionaries(
        {"entry_id": plain_ints, "owner": owners_out, "amount": amounts_out, "balance": balances_out}
    ),
    s.TransferResultSerializer: st.fixed_dictionaries(
        {
            "entry_id": plain_ints,
            "amount": amounts_out,
            "from": st.fixed_dictionaries({"owner": owners_out, "balance": balances_out}),
            "to": st.fixed_dictionaries({"owner": owners_out, "balance": balances_out}),
        }
    ),
    s.ReverseResultSerializer: st.fixed_dictionaries({"entry_id": plain_ints, "reverses": plain_ints}),
}
odd = st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.floats(allow_nan=False), st.none())


@pytest.mark.parametrize("serializer_class", list(answers), ids=lambda c: c.__name__)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_answers_are_built_as_drf_builds_them(serializer_class, data):
    body = data.draw(answers[serializer_class])
    if data.draw(st.booleans()):  # sometimes a value of another type somewhere at the top
        body = {**body, data.draw(st.sampled_from(sorted(body))): data.draw(odd)}

    assert _outcome(plain_data, serializer_class, body) == _outcome(lambda c, b: c(b).data, serializer_class, body)


def _outcome(build, serializer_class, body):
    try:
        return ("ok", build(serializer_class, body))
    except Exception as exc:  # noqa: BLE001 - the same failure either way is what is compared
        return ("error", type(exc))
