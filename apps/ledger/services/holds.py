"""Two-phase movements: reserve (hold), then post all or part of it, or void it."""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.ledger.amounts import MAX_UNIT_COUNT, Amount, Ref, request_hash
from apps.ledger.assets import asset_get
from apps.ledger.exceptions import (
    HoldAmountTooLarge,
    HoldNotFound,
    HoldNotPending,
    IdempotencyKeyReused,
    InsufficientFunds,
)
from apps.ledger.locks import accounts_lock
from apps.ledger.models import Account, Hold, Operation
from apps.ledger.services.posting import INTERNAL_KEY_PREFIX, SYSTEM_WITHDRAWALS, EntrySpec, Leg, PostResult, _post
from config.errors import InvalidInput

DEFAULT_HOLD_TTL = timedelta(days=7)
EXPIRE_BATCH = 500


def _account_id(asset_id: int, *, owner: Ref | None = None, system: str = "") -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT khata_ledger_account(%s, %s, %s, %s)",
            [asset_id, str(owner.type) if owner else "", str(owner.value) if owner else "", system],
        )
        return cursor.fetchone()[0]


def _claim(idempotency_key: Ref, claimed_hash: str) -> Operation | None:
    """Insert the operation row for this key; returns the existing one if the key was used."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_operation (idempotency_type, idempotency_token, request_hash, status, error_code,"
            " error_message, created_at) VALUES (%s, %s, %s, 'succeeded', '', '', now())"
            " ON CONFLICT (idempotency_type, idempotency_token) DO NOTHING RETURNING id",
            [str(idempotency_key.type), str(idempotency_key.value), claimed_hash],
        )
        row = cursor.fetchone()
    if row is not None:
        return None
    return Operation.objects.get(
        idempotency_type=str(idempotency_key.type), idempotency_token=str(idempotency_key.value)
    )


def hold_create(
    *,
    owner: Ref,
    actor: Ref,
    amount: Amount,
    reason: Ref,
    idempotency_key: Ref,
    expires_at: datetime | None = None,
    destination: Ref | None = None,
    destination_system: str = SYSTEM_WITHDRAWALS,
) -> tuple[Hold, bool]:
    """Reserve `amount` of the owner's available balance. Returns (hold, replayed)."""
    if amount.unit_count <= 0 or amount.unit_count > MAX_UNIT_COUNT:
        raise InvalidInput("The amount must be positive.", fields={"amount": {"unit_count": ["Must be > 0."]}})
    if not str(idempotency_key.value).strip():
        raise InvalidInput("An idempotency key is required.", fields={"idempotency_key": ["Required."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expiresAt must be in the future.", fields={"expires_at": ["In the past."]})
    expires_at = expires_at or timezone.now() + DEFAULT_HOLD_TTL
    asset = asset_get(amount.unit_type, amount.unit_token)
    hold_hash = request_hash(
        dict(
            owner=[owner.type, owner.value],
            actor=[actor.type, actor.value],
            amount=amount.as_dict(),
            reason=[reason.type, reason.value],
            destination=[destination.type, destination.value] if destination else None,
            destination_system=destination_system,
        )
    )
    refusal = None
    with transaction.atomic():
        existing = _claim(idempotency_key, hold_hash)
        if existing is not None:
            if existing.request_hash != hold_hash or (existing.hold_id is None and existing.status == "succeeded"):
                raise IdempotencyKeyReused()
            if existing.status == Operation.Status.REFUSED:
                refusal = InsufficientFunds(existing.error_message)
                refusal.replayed = True
            else:
                return Hold.objects.get(pk=existing.hold_id), True
        else:
            account_id = _account_id(asset.pk, owner=owner)
            destination_id = (
                _account_id(asset.pk, owner=destination)
                if destination
                else _account_id(asset.pk, system=destination_system)
            )
            account = accounts_lock([account_id])[0]
            if account.posted - account.pending < amount.unit_count:
                refusal = InsufficientFunds()
                Operation.objects.filter(
                    idempotency_type=str(idempotency_key.type), idempotency_token=str(idempotency_key.value)
                ).update(status=Operation.Status.REFUSED, error_code=refusal.code, error_message=refusal.message)
            else:
                Account.objects.filter(pk=account_id).update(pending=F("pending") + amount.unit_count)
                hold = Hold.objects.create(
                    account_id=account_id,
                    destination_id=destination_id,
                    amount=amount.unit_count,
                    reason_type=str(reason.type),
                    reason_token=str(reason.value),
                    idempotency_type=str(idempotency_key.type),
                    idempotency_token=str(idempotency_key.value),
                    actor_type=str(actor.type),
                    actor_id=str(actor.value),
                    expires_at=expires_at,
                )
                Operation.objects.filter(
                    idempotency_type=str(idempotency_key.type), idempotency_token=str(idempotency_key.value)
                ).update(hold=hold)
                return hold, False
    raise refusal


def _hold_locked(hold_id: int) -> Hold:
    hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise HoldNotFound()
    return hold


def _release(hold: Hold, status: str) -> None:
    # lock every owner account the posting will touch, in id order, before the posting does
    destination = Account.objects.only("system_name").get(pk=hold.destination_id)
    accounts_lock([hold.account_id] + ([hold.destination_id] if not destination.system_name else []))
    Account.objects.filter(pk=hold.account_id).update(pending=F("pending") - hold.amount)
    hold.status = status
    hold.resolved_at = timezone.now()


@transaction.atomic
def hold_post(*, hold_id: int, actor: Ref, amount: int | None = None) -> tuple[Hold, PostResult]:
    """Move all (default) or part of a held amount; the rest is released."""
    hold = _hold_locked(hold_id)
    post_amount = hold.amount if amount is None else amount
    if hold.status == Hold.Status.POSTED and (amount is None or hold.posted_amount == amount):
        return hold, PostResult(hold.posted_entry_id, replayed=True)
    if hold.status != Hold.Status.PENDING:
        raise HoldNotPending(f"The hold is {hold.status}.")
    if hold.expires_at <= timezone.now():
        raise HoldNotPending("The hold has expired.")
    if isinstance(post_amount, bool) or not isinstance(post_amount, int) or post_amount <= 0:
        raise InvalidInput("The amount must be a positive integer.", fields={"amount": ["Must be > 0."]})
    if post_amount > hold.amount:
        raise HoldAmountTooLarge(fields={"amount": [f"At most {hold.amount}."]})
    _release(hold, Hold.Status.POSTED)
    asset = hold.account.asset
    legs = (
        Leg(Amount(asset.unit_type, asset.unit_token, -post_amount), account_id=hold.account_id),
        Leg(Amount(asset.unit_type, asset.unit_token, post_amount), account_id=hold.destination_id),
    )
    result = _post(
        EntrySpec(
            legs,
            actor,
            Ref(hold.reason_type, hold.reason_token),
            Ref(f"{INTERNAL_KEY_PREFIX}hold_post", str(hold.pk)),
            kind="hold_post",
            metadata={"hold": hold.pk},
        )
    )
    hold.posted_amount = post_amount
    hold.posted_entry_id = result.entry_id
    hold.save(update_fields=["status", "resolved_at", "posted_amount", "posted_entry"])
    return hold, result


@transaction.atomic
def hold_void(*, hold_id: int, actor: Ref, status: str = Hold.Status.VOIDED) -> Hold:
    """Release a pending hold without moving money."""
    hold = _hold_locked(hold_id)
    if hold.status == status:
        return hold
    if hold.status != Hold.Status.PENDING:
        raise HoldNotPending(f"The hold is {hold.status}.")
    _release(hold, status)
    hold.save(update_fields=["status", "resolved_at"])
    return hold


def holds_expire(*, now: datetime | None = None, limit: int = EXPIRE_BATCH) -> int:
    """Void pending holds past their expiry (run by beat)."""
    now = now or timezone.now()
    ids = list(
        Hold.objects.filter(status=Hold.Status.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    expired = 0
    for hold_id in ids:
        try:
            hold_void(hold_id=hold_id, actor=Ref("system", "hold_expiry"), status=Hold.Status.EXPIRED)
        except HoldNotPending:
            continue  # posted or voided since the list was read
        expired += 1
    return expired
