"""Posting entries. The work happens in one call to a PostgreSQL function (apps/ledger/sql):
claim the idempotency key, lock owner accounts in id order, check balances, write the entry,
postings, balances and lots — one round trip per entry. khata_ledger_post takes any entry;
the common shapes (deposits, withdrawals, transfers, awards, fees) go through the shorter
khata_ledger_post_simple, which writes the same rows."""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, transaction

from apps.ledger.amounts import MAX_UNIT_COUNT, Amount, Ref, canonical_json, tags_normalize, text_hash
from apps.ledger.assets import asset_get
from apps.ledger.exceptions import (
    REFUSALS,
    AlreadyReversed,
    EntryNotFound,
    IdempotencyKeyReused,
    NotReversible,
)
from apps.ledger.models import Entry
from apps.ledger.prepared import prepared_call
from config.errors import InvalidInput, KhataError

# Idempotency key types starting with this are Khata's own; API callers cannot use them.
INTERNAL_KEY_PREFIX = "khata."
SYSTEM_DEPOSITS = "external_deposits"
SYSTEM_WITHDRAWALS = "external_withdrawals"


class Leg(NamedTuple):
    """One posting: a signed amount on an owner's account, a system account, or an account id.
    (Immutable value types here are named tuples: made on every posting, they cost half as much
    as frozen dataclasses.)"""

    amount: Amount
    owner: Ref | None = None
    system: str = ""
    account_id: int | None = None
    lot_tags: tuple = ()
    lot_exclude: tuple = ()
    prefer_entry: int | None = None
    restore_entry: int | None = None


class EntrySpec(NamedTuple):
    legs: tuple[Leg, ...]
    actor: Ref
    reason: Ref
    idempotency_key: Ref
    kind: str = "entry"
    tags: tuple = ()
    metadata: dict | None = None
    effective_at: datetime | None = None
    reverses: int | None = None


@dataclass
class PostResult:
    entry_id: int
    replayed: bool = False
    account_ids: list[int] = field(default_factory=list)
    balances: dict[int, tuple[int, int]] = field(default_factory=dict)  # owner account -> (posted, pending)


def _ref_check(name: str, ref: Ref, value_name: str) -> None:
    if not isinstance(ref, Ref) or not str(ref.type).strip() or not str(ref.value).strip():
        raise InvalidInput(
            f"{name} needs a type and a {value_name}.", fields={name: [f"type and {value_name} are required."]}
        )


def _leg_json(leg: Leg, index: int) -> dict:
    count = leg.amount.unit_count
    if count == 0 or abs(count) > MAX_UNIT_COUNT:
        raise InvalidInput(
            f"Amounts must be non-zero and at most {MAX_UNIT_COUNT}.",
            fields={f"legs.{index}.amount": ["Out of range."]},
        )
    targets = sum([leg.owner is not None, bool(leg.system), leg.account_id is not None])
    if targets != 1:
        raise InvalidInput(
            "Each leg names one owner, system account or account id.", fields={f"legs.{index}": ["One target."]}
        )
    asset = asset_get(leg.amount.unit_type, leg.amount.unit_token)
    out: dict = {"asset_id": asset.pk, "amount": count}
    if leg.owner is not None:
        _ref_check("owner", leg.owner, "id")
        out["owner_type"], out["owner_id"] = str(leg.owner.type), str(leg.owner.value)
    elif leg.system:
        out["system"] = leg.system
    else:
        out["account_id"] = leg.account_id
    if leg.lot_tags:
        out["lot_tags"] = tags_normalize(leg.lot_tags)
    if leg.lot_exclude:
        out["lot_exclude"] = tags_normalize(leg.lot_exclude)
    if leg.prefer_entry:
        out["prefer_entry"] = leg.prefer_entry
    if leg.restore_entry:
        out["restore_entry"] = leg.restore_entry
    return out


def _filters_check(legs) -> None:
    """A lot filter chooses which lots one debit spends; with several debits from the same owner
    account in one entry it would be ambiguous which lots each may take."""
    if not any(leg.lot_tags or leg.lot_exclude for leg in legs):
        return
    debits: dict[tuple, int] = defaultdict(int)
    filtered: set[tuple] = set()
    for leg in legs:
        if leg.owner is None or leg.amount.unit_count >= 0:
            continue
        account = (str(leg.owner.type), str(leg.owner.value), leg.amount.unit_type, leg.amount.unit_token)
        debits[account] += 1
        if leg.lot_tags or leg.lot_exclude:
            filtered.add(account)
    if any(debits[account] > 1 for account in filtered):
        raise InvalidInput(
            "A lot filter applies to an owner's only debit in the entry.",
            fields={"legs": ["Several debits with a filter."]},
        )


def spec_argument(spec: EntrySpec) -> tuple[dict, str]:
    """Validate an entry and turn it into what the database function takes, as a dict and as JSON
    text. The text is the request's canonical JSON, the one its hash is of, with the key and the
    hash put in front: the request is encoded once."""
    _ref_check("actor", spec.actor, "id")
    _ref_check("reason", spec.reason, "token")
    _ref_check("idempotency_key", spec.idempotency_key, "token")
    if len(spec.legs) < 2:
        raise InvalidInput("An entry needs at least two postings.", fields={"legs": ["At least two."]})
    legs = [_leg_json(leg, i) for i, leg in enumerate(spec.legs)]
    _filters_check(spec.legs)
    sums: dict[int, int] = defaultdict(int)
    for leg in legs:
        sums[leg["asset_id"]] += leg["amount"]
    if any(sums.values()):
        raise InvalidInput("Postings must sum to zero per asset.", fields={"legs": ["Unbalanced."]})
    request = {
        "kind": spec.kind,
        "reason_type": str(spec.reason.type),
        "reason_token": str(spec.reason.value),
        "actor_type": str(spec.actor.type),
        "actor_id": str(spec.actor.value),
        "metadata": spec.metadata or {},
        "tags": tags_normalize(spec.tags),
        "postings": legs,
    }
    if spec.effective_at is not None:
        request["effective_at"] = spec.effective_at.isoformat()
    if spec.reverses is not None:
        request["reverses"] = spec.reverses
    text = canonical_json(request)
    key = {
        "idem_type": str(spec.idempotency_key.type),
        "idem_token": str(spec.idempotency_key.value),
        "request_hash": text_hash(text),
    }
    return {**request, **key}, _json_join(canonical_json(key), text)


def _json_join(first: str, second: str) -> str:
    """Two JSON objects' text as one object's (neither is empty)."""
    return f"{first[:-1]}, {second[1:]}"


def _result(payload: dict, raw: dict) -> PostResult | KhataError:
    status = raw["status"]
    if status == "posted":
        balances = {int(k): (v[0], v[1]) for k, v in raw["balances"].items()}
        return PostResult(raw["entry_id"], False, raw["account_ids"], balances)
    if status == "refused":
        return REFUSALS[raw["error_code"]](raw["error_message"])
    # existing: the key was used before
    if raw["request_hash"] != payload["request_hash"]:
        return IdempotencyKeyReused()
    if raw["op_status"] == "refused":
        error = REFUSALS.get(raw["error_code"], NotReversible)(raw["error_message"])
        error.replayed = True
        return error
    if raw["entry_id"] is None:
        return IdempotencyKeyReused()
    return PostResult(raw["entry_id"], replayed=True)


_DECODER = json.JSONDecoder()


def _call(function: str, argument: str, db=None) -> object:
    """Call a posting function with its JSON argument; its answer, decoded."""
    raw = prepared_call(function, argument, db)
    # jsonb comes back as text (bytes on the direct path), as PostgreSQL wrote it: no padding
    return _DECODER.raw_decode(raw.decode() if isinstance(raw, bytes) else raw)[0]


# What khata_ledger_post_simple takes: one asset, at most one owner debit, one owner credit (of
# another owner) and one system leg, none with a lot filter or named by account id.
_SIMPLE_LEG_KEYS = frozenset(("asset_id", "amount", "owner_type", "owner_id", "system"))
# khata_ledger_post_simple's signals, raised before anything is written, that khata_ledger_post
# must answer instead: an account does not exist yet; the idempotency key was used before
FALL_BACK = frozenset(("KL001", "23505"))
_owner_of = itemgetter("owner_type", "owner_id")


def simple_roles(payload: dict) -> list | None:
    """[debit leg, credit leg, system leg] (0-based, None where absent) when the entry has the
    shape khata_ledger_post_simple posts; None when it needs the general khata_ledger_post."""
    legs = payload["postings"]
    if "reverses" in payload or len(legs) > 3:
        return None
    roles: list = [None, None, None]
    for index, leg in enumerate(legs):
        if leg["asset_id"] != legs[0]["asset_id"] or not _SIMPLE_LEG_KEYS.issuperset(leg):
            return None
        role = 2 if "system" in leg else 0 if leg["amount"] < 0 else 1
        if roles[role] is not None:
            return None
        roles[role] = index
    debit, credit = roles[0], roles[1]
    if debit is not None and credit is not None and _owner_of(legs[debit]) == _owner_of(legs[credit]):
        return None  # money from an owner to the same owner's account
    return roles


def _statement_call(db, function: str, argument: str) -> object:
    """Inside a caller's transaction: in a savepoint, so a failure leaves the caller usable.
    Otherwise the call is one statement, its own transaction: committed when it returns."""
    if db.in_atomic_block:
        with transaction.atomic(using=db.alias):
            return _call(function, argument, db)
    return _call(function, argument, db)


# The simple function's argument starts with the legs' roles, as the JSON text of {"simple": [...]}
_ROLES_JSON: dict[tuple, str] = {}


def _with_roles(roles: list, argument: str) -> str:
    key = tuple(roles)
    head = _ROLES_JSON.get(key)
    if head is None:
        head = _ROLES_JSON[key] = json.dumps({"simple": roles})
    return _json_join(head, argument)


def _post_call(payload: dict, argument: str) -> dict:
    db = connections[DEFAULT_DB_ALIAS]
    roles = simple_roles(payload)
    if roles is not None:
        try:
            # the roles are derived from the legs: not part of the request or its hash
            return _statement_call(db, "khata_ledger_post_simple", _with_roles(roles, argument))
        except DatabaseError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in FALL_BACK:
                raise
    return _statement_call(db, "khata_ledger_post", argument)


def _post(spec: EntrySpec) -> PostResult:
    payload, argument = spec_argument(spec)
    try:
        raw = _post_call(payload, argument)
    except IntegrityError as exc:
        if "reverses_id" in str(exc) or "ledger_entry_reverses" in str(exc):
            raise AlreadyReversed() from None
        raise
    # a refusal is raised only now, after its record committed with the key
    outcome = _result(payload, raw)
    if isinstance(outcome, KhataError):
        raise outcome
    return outcome


def entry_post(*, spec: EntrySpec) -> PostResult:
    """Post a general entry (any number of legs, several assets). Refusals raise."""
    return _post(spec)


def entries_post_batch(*, entries: list[EntrySpec]) -> list[PostResult | KhataError]:
    """Post many entries in one transaction and one round trip. Each answers on its own:
    a refused entry (insufficient funds) writes nothing but its refusal; the others post."""
    prepared = [spec_argument(spec) for spec in entries]
    with transaction.atomic():
        raws = _call("khata_ledger_post_batch", f"[{', '.join(text for _, text in prepared)}]")
    return [_result(payload, raw) for (payload, _), raw in zip(prepared, raws, strict=True)]


def deposit(
    *,
    owner: Ref,
    creator: Ref,
    amount: Amount,
    reason: Ref,
    idempotency_key: Ref,
    tags=(),
    source_system: str = SYSTEM_DEPOSITS,
    metadata: dict | None = None,
) -> PostResult:
    """Money comes in for `owner`, from a system account; the new lot carries `tags`."""
    _positive(amount)
    legs = (
        Leg(amount, owner=owner),
        Leg(Amount(amount.unit_type, amount.unit_token, -amount.unit_count), system=source_system),
    )
    return _post(EntrySpec(legs, creator, reason, idempotency_key, kind="deposit", tags=tuple(tags), metadata=metadata))


def withdraw(
    *,
    owner: Ref,
    actor: Ref,
    amount: Amount,
    reason: Ref,
    idempotency_key: Ref,
    lot_tags=(),
    lot_exclude=(),
    destination_system: str = SYSTEM_WITHDRAWALS,
    metadata: dict | None = None,
) -> PostResult:
    """Money leaves `owner`'s account, FIFO from their lots or only from lots with `lot_tags`
    (and none of `lot_exclude`). Refused with insufficient_funds when not enough."""
    _positive(amount)
    legs = (
        Leg(
            Amount(amount.unit_type, amount.unit_token, -amount.unit_count),
            owner=owner,
            lot_tags=tuple(lot_tags),
            lot_exclude=tuple(lot_exclude),
        ),
        Leg(amount, system=destination_system),
    )
    return _post(EntrySpec(legs, actor, reason, idempotency_key, kind="withdrawal", metadata=metadata))


def transfer(
    *,
    source: Ref,
    destination: Ref,
    actor: Ref,
    amount: Amount,
    reason: Ref,
    idempotency_key: Ref,
    lot_tags=(),
    metadata: dict | None = None,
) -> PostResult:
    """Owner to owner; the money keeps its tags (the destination's lots continue the source's)."""
    _positive(amount)
    if (str(source.type), str(source.value)) == (str(destination.type), str(destination.value)):
        raise InvalidInput("from and to must be different owners.", fields={"to": ["Same as from."]}, code="same_owner")
    legs = (
        Leg(Amount(amount.unit_type, amount.unit_token, -amount.unit_count), owner=source, lot_tags=tuple(lot_tags)),
        Leg(amount, owner=destination),
    )
    return _post(EntrySpec(legs, actor, reason, idempotency_key, kind="transfer", metadata=metadata))


def entry_reverse(*, entry_id: int, actor: Ref, reason: Ref, idempotency_key: Ref) -> PostResult:
    """Undo an entry with a new, linked entry of opposite postings. Money taken back comes first
    from the lots the entry created; money given back keeps the tags it had."""
    entry = Entry.objects.filter(pk=entry_id).prefetch_related("postings__asset").first()
    if entry is None:
        raise EntryNotFound()
    if entry.reverses_id is not None:
        raise NotReversible("A reversal cannot itself be reversed.")
    earlier = Entry.objects.filter(reverses=entry).values_list("idempotency_type", "idempotency_token").first()
    if earlier is not None and earlier != (str(idempotency_key.type), str(idempotency_key.value)):
        raise AlreadyReversed(f"Entry {entry.pk} was already reversed.")
    legs = tuple(
        Leg(
            Amount(p.asset.unit_type, p.asset.unit_token, -p.amount),
            account_id=p.account_id,
            # taking back: first from the lots the entry created; giving back: as the lots it spent
            prefer_entry=entry.pk if p.amount > 0 else None,
            restore_entry=entry.pk if p.amount < 0 else None,
        )
        for p in entry.postings.all()
    )
    spec = EntrySpec(
        legs,
        actor,
        reason,
        idempotency_key,
        kind="reversal",
        tags=tuple(entry.tags),
        metadata={"reverses": entry.pk},
        reverses=entry.pk,
    )
    return _post(spec)


def _positive(amount: Amount) -> None:
    if amount.unit_count <= 0 or amount.unit_count > MAX_UNIT_COUNT:
        raise InvalidInput(
            f"The amount must be between 1 and {MAX_UNIT_COUNT}.", fields={"amount": {"unit_count": ["Must be > 0."]}}
        )
