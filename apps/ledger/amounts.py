"""Value types of the ledger's public contract: amounts, parties, reasons, keys, tags."""

import hashlib
import json
from dataclasses import dataclass
from decimal import Context, Decimal

BIGINT_MAX = 2**63 - 1
# The most one movement may carry (a quadrillion smallest units: $1,000,000,000 in micros).
# Far above any real payment, and far enough below BIGINT_MAX that no balance — an owner's
# or a system shard's — can overflow from a run of them.
MAX_UNIT_COUNT = 10**15
MICROS_PER_UNIT = 10**6
_EXACT = Context(prec=60)  # wide enough that no digit of a typed amount is rounded away


def micros_from_major(value: Decimal) -> int:
    """A major-unit amount ("100.00") as a positive count of micros, exactly; ValueError when it
    is not finite, has more than 6 decimals, or is out of range."""
    try:
        micros = _EXACT.multiply(value, Decimal(MICROS_PER_UNIT))
    except ArithmeticError:
        raise ValueError("amount out of range") from None
    if not micros.is_finite() or micros != micros.to_integral_value() or not 0 < micros <= MAX_UNIT_COUNT:
        raise ValueError("not a positive amount with at most 6 decimals")
    return int(micros)


def major_from_micros(unit_count: int) -> Decimal:
    return Decimal(unit_count).scaleb(-6)


@dataclass(frozen=True)
class Amount:
    """unit_count smallest units (e.g. micros) of the asset unit_type/unit_token. Never a float."""

    unit_type: str
    unit_token: str
    unit_count: int

    def __post_init__(self):
        if isinstance(self.unit_count, bool) or not isinstance(self.unit_count, int):
            raise TypeError("unit_count must be an int")

    def as_dict(self) -> dict:
        return {"unit_type": self.unit_type, "unit_token": self.unit_token, "unit_count": self.unit_count}


@dataclass(frozen=True)
class Ref:
    """A typed reference: an owner/creator/actor {type, id} or a reason/key/tag {type, token}."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


def tags_normalize(tags) -> list[list[str]]:
    """[{type, token}] or [(type, token)] -> sorted unique [[type, token]] (stored as jsonb)."""
    if not tags:
        return []
    pairs = set()
    for tag in tags:
        if isinstance(tag, Ref):
            pairs.add((tag.type, tag.value))
        elif isinstance(tag, dict):
            pairs.add((str(tag["type"]), str(tag["token"])))
        else:
            pairs.add((str(tag[0]), str(tag[1])))
    return [list(pair) for pair in sorted(pairs)]


# A request's canonical JSON: json.dumps(request, sort_keys=True, default=str). Its C encoder is
# made once, not per call as json.dumps does; requests are plain trees, so no cycle check.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str)
_C_CANONICAL = (
    json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True)
    if json.encoder.c_make_encoder is not None
    else None
)


def canonical_json(request: dict) -> str:
    if _C_CANONICAL is None:
        return _CANONICAL.encode(request)
    return "".join(_C_CANONICAL(request, 0))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_hash(request: dict) -> str:
    """What makes two requests "the same" for one idempotency key."""
    return text_hash(canonical_json(request))
