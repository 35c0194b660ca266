"""Value types of the ledger's public contract: amounts, parties, reasons, keys, tags."""

import hashlib
import json
from dataclasses import dataclass

BIGINT_MAX = 2**63 - 1
# The most one movement may carry (a quadrillion smallest units: $1,000,000,000 in micros).
# Far above any real payment, and far enough below BIGINT_MAX that no balance — an owner's
# or a system shard's — can overflow from a run of them.
MAX_UNIT_COUNT = 10**15


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
    pairs = set()
    for tag in tags or ():
        if isinstance(tag, Ref):
            pairs.add((tag.type, tag.value))
        elif isinstance(tag, dict):
            pairs.add((str(tag["type"]), str(tag["token"])))
        else:
            pairs.add((str(tag[0]), str(tag[1])))
    return [list(pair) for pair in sorted(pairs)]


def request_hash(request: dict) -> str:
    """What makes two requests "the same" for one idempotency key."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
