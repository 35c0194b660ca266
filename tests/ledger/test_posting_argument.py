"""The posting functions' JSON argument is the request encoded once: its canonical JSON (what the
request hash is of) with the idempotency key and the hash put in front. It must carry exactly the
payload, and the hash must be the one every earlier posting stored for the same request, or a
retry would be answered 409 instead of its replay."""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.ledger.amounts import Amount, Ref, request_hash
from apps.ledger.services import posting
from apps.ledger.services.posting import EntrySpec, Leg, spec_argument

pytestmark = pytest.mark.django_db

texts = st.text(min_size=1, max_size=12).filter(str.strip)  # any text: quotes, backslashes, non-ASCII
refs = st.builds(Ref, texts, texts)
counts = st.integers(1, 10**15)
metadata = st.one_of(
    st.none(),
    st.dictionaries(texts, st.one_of(texts, st.integers(), st.booleans(), st.lists(st.integers(), max_size=3))),
)


@st.composite
def entries(draw):
    count = draw(counts)
    usd = Amount("currency_micros", "USD", count)
    debit = Leg(Amount("currency_micros", "USD", -count), owner=draw(refs), lot_tags=tuple(draw(st.lists(refs))))
    credit = draw(st.sampled_from([Leg(usd, owner=draw(refs)), Leg(usd, system="external_deposits")]))
    return EntrySpec(
        (debit, credit),
        draw(refs),
        draw(refs),
        draw(refs),
        kind=draw(st.sampled_from(["transfer", "deposit", "entry"])),
        tags=tuple(draw(st.lists(refs, max_size=3))),
        metadata=draw(metadata),
        effective_at=draw(st.one_of(st.none(), st.just(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))),
        reverses=draw(st.one_of(st.none(), st.integers(1, 2**40))),
    )


@settings(max_examples=150, deadline=None)
@given(spec=entries())
def test_the_argument_is_the_payload_and_the_hash_is_the_request_s_as_before(spec):
    payload, argument = spec_argument(spec)

    assert json.loads(argument) == payload
    request = {k: v for k, v in payload.items() if k not in ("idem_type", "idem_token", "request_hash")}
    # as every earlier posting computed it
    legacy = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    assert payload["request_hash"] == legacy == request_hash(request)


def test_metadata_json_lacks_is_hashed_as_its_text():
    legs = (Leg(Amount("points", "GRP", 5), owner=Ref("user", "m1")), Leg(Amount("points", "GRP", -5), system="x"))
    spec = EntrySpec(legs, Ref("system", "t"), Ref("t", "r"), Ref("t", "k"), metadata={"rate": Decimal("1.25")})

    payload, argument = spec_argument(spec)

    assert json.loads(argument)["metadata"] == {"rate": "1.25"}
    assert payload["request_hash"] == request_hash({k: v for k, v in payload.items() if k[:4] not in ("idem", "requ")})


def test_the_simple_function_gets_the_legs_roles_in_front():
    payload, argument = spec_argument(
        EntrySpec(
            (
                Leg(Amount("points", "GRP", -5), owner=Ref("user", "a")),
                Leg(Amount("points", "GRP", 5), owner=Ref("user", "b")),
            ),
            Ref("system", "t"),
            Ref("t", "r"),
            Ref("t", "k2"),
        )
    )
    roles = posting.simple_roles(payload)

    sent = json.loads(posting._with_roles(roles, argument))

    assert sent == {"simple": [0, 1, None], **payload}
