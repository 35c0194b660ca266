"""Redeeming points for rewards, and settling the redemptions.

    redemption_create: lock the reward row, check it (not_available, out_of_stock,
    limit_reached), take the points in one ledger entry `redemption:<user id>:<key>`
    (insufficient_points when the balance is short), take one from the stock, record the
    Redemption and outbox `points.redeemed` - all in one transaction, so a refusal writes nothing.

An item stays pending until staff fulfil it or cancel it; cancelling reverses the entry (the
points come back as the lots they were spent from) and puts the item back in stock. A credit
converts the points into currency at the country's rate in force, in the same entry (points:
user -> points_redeemed; currency: points_credit_funding -> user), and is fulfilled at once.

Locks are taken in one order everywhere: the reward row, then the redemption row, then the
ledger's account locks (inside the posting function). Every redemption of one reward queues on
its row, which is what makes the stock and the per-user limit exact under concurrency.
"""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.events.services.outbox import outbox_publish
from apps.identity.models import User
from apps.ledger.amounts import Amount, Ref, request_hash
from apps.ledger.exceptions import InsufficientFunds
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from apps.ledger.services import EntrySpec, Leg, entry_post, entry_reverse
from apps.points.exceptions import (
    InsufficientPoints,
    RedemptionNotFound,
    RedemptionNotPending,
    RewardLimitReached,
    RewardNotAvailable,
    RewardOutOfStock,
    UnknownReward,
)
from apps.points.models import CreditRate, Redemption, Reward
from apps.points.reward_selectors import credit_micros, credit_rate_in_force
from apps.points.services.awards import POINTS_ASSET, points_amount
from apps.points.services.dated_rates import DatedRate, dated_errors, dated_save
from config.errors import Conflict, InvalidInput

REDEMPTION_KEY_TYPE = "redemption"
CANCEL_KEY_TYPE = "redemption_cancel"
POINTS_REDEEMED = "points_redeemed"
CREDIT_FUNDING = "points_credit_funding"
# credit bought with points was never paid in: it cannot be refunded to a card
CREDIT_TAGS = (("refund_policy", "no_refunds"), ("credit", "true"))


def _replay(user: User, idempotency_key: str, fingerprint: str) -> Redemption | None:
    existing = Redemption.objects.select_related("reward").filter(user=user, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_hash != fingerprint:
        raise Conflict(
            "This idempotencyKey was used for a different redemption.",
            code="idempotency_key_reused",
            fields={"idempotencyKey": ["Already used for another reward."]},
        )
    return existing


def reward_unavailable_reason(*, reward: Reward, country_code: str, at) -> str:
    """Why `reward` cannot be redeemed in the country at `at`, or "" when it can."""
    if not reward.is_active:
        return "This reward has been withdrawn."
    if reward.valid_from > at:
        return f"This reward can be redeemed from {reward.valid_from:%Y-%m-%d %H:%M} UTC."
    if reward.valid_to is not None and reward.valid_to <= at:
        return "This reward is no longer offered."
    countries = list(reward.countries.values_list("code", flat=True))
    if countries and country_code not in countries:
        return "This reward is not offered in your country."
    return ""


def _entry(*, user: User, reward: Reward, token: str, credit: tuple[CreditRate, int] | None) -> EntrySpec:
    owner = owner_ref_for_user(user)
    legs = [
        Leg(points_amount(-reward.cost_points), owner=owner),
        Leg(points_amount(reward.cost_points), system=POINTS_REDEEMED),
    ]
    metadata = {"reward_id": reward.pk, "kind": reward.kind}
    if credit is not None:
        rate, micros = credit
        currency = rate.country.currency
        legs += [
            Leg(Amount("currency_micros", currency, -micros), system=CREDIT_FUNDING),
            Leg(Amount("currency_micros", currency, micros), owner=owner),
        ]
        metadata |= {"credit_rate_id": rate.pk, "rate": str(rate.rate)}
    return EntrySpec(
        legs=tuple(legs),
        actor=owner,
        reason=Ref("points_redemption", token),
        idempotency_key=Ref(REDEMPTION_KEY_TYPE, token),
        kind="points_credit" if credit is not None else "points_redemption",
        tags=CREDIT_TAGS if credit is not None else (),
        metadata=metadata,
    )


def _payload(redemption: Redemption) -> dict:
    return {
        "redemptionId": redemption.pk,
        "userId": redemption.user.external_id or str(redemption.user_id),
        "rewardId": redemption.reward_id,
        "reward": redemption.reward.name,
        "kind": redemption.kind,
        "points": redemption.points,
        "status": redemption.status,
        "countryCode": redemption.country_code,
        "entryId": redemption.entry_id,
        "reversalEntryId": redemption.reversal_entry_id,
        "unitToken": redemption.unit_token,
        "unitCount": redemption.unit_count,
    }


def _redeem(*, user: User, reward_id: int, idempotency_key: str, fingerprint: str) -> tuple[Redemption, bool]:
    reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
    if reward is None:
        raise UnknownReward(fields={"rewardId": ["No reward has this id."]})
    existing = _replay(user, idempotency_key, fingerprint)  # a parallel retry may have committed while we waited
    if existing is not None:
        return existing, False
    now = timezone.now()
    reason = reward_unavailable_reason(reward=reward, country_code=user.country, at=now)
    if reason:
        raise RewardNotAvailable(reason)
    credit = None
    if reward.kind == Reward.Kind.CREDIT:
        rate = credit_rate_in_force(country_code=user.country, at=now)
        if rate is None:
            raise RewardNotAvailable(
                f"Points cannot be converted into credit in {user.country or 'your country'} now: no rate is in force."
            )
        micros = credit_micros(points=reward.cost_points, rate=rate.rate)
        if micros < 1:
            raise RewardNotAvailable("At today's rate this reward is worth less than the smallest unit of currency.")
        credit = (rate, micros)
    if reward.stock is not None and reward.stock < 1:
        raise RewardOutOfStock()
    if reward.per_user_limit is not None:
        used = Redemption.objects.filter(user=user, reward=reward).exclude(status=Redemption.Status.CANCELLED).count()
        if used >= reward.per_user_limit:
            raise RewardLimitReached(f"One person may redeem this reward {reward.per_user_limit} time(s).")
    token = f"{user.pk}:{idempotency_key}"
    try:
        result = entry_post(spec=_entry(user=user, reward=reward, token=token, credit=credit))
    except InsufficientFunds:
        balance = owner_balance(owner=owner_ref_for_user(user), unit_type=POINTS_ASSET[0], unit_token=POINTS_ASSET[1])
        raise InsufficientPoints(
            f"This reward costs {reward.cost_points} points; you have {balance['available']}."
        ) from None
    if reward.stock is not None:
        Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
    is_credit = credit is not None
    redemption = Redemption.objects.create(
        user=user,
        reward=reward,
        kind=reward.kind,
        points=reward.cost_points,
        status=Redemption.Status.FULFILLED if is_credit else Redemption.Status.PENDING,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        country_code=user.country,
        entry_id=result.entry_id,
        credit_rate=credit[0] if is_credit else None,
        unit_token=credit[0].country.currency if is_credit else "",
        unit_count=credit[1] if is_credit else None,
        created_at=now,
        fulfilled_at=now if is_credit else None,
        actor=user,
    )
    outbox_publish(topic="points.redeemed", payload=_payload(redemption), user=user)
    return redemption, True


@transaction.atomic
def redemption_create(*, user: User, reward_id: int, idempotency_key: str) -> tuple[Redemption, bool]:
    """Redeem `reward_id` for `user`. Returns (redemption, created): the same key with the same
    reward returns the first redemption; with another reward, 409 idempotency_key_reused.
    Refusals (not_available, out_of_stock, limit_reached, insufficient_points) write nothing."""
    fingerprint = request_hash({"reward": reward_id})
    existing = _replay(user, idempotency_key, fingerprint)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return _redeem(user=user, reward_id=reward_id, idempotency_key=idempotency_key, fingerprint=fingerprint)
    except IntegrityError as exc:
        if "points_redemption_once_per_key" not in str(exc):
            raise
    # the same key, for another reward, committed between our check and our insert
    existing = _replay(user, idempotency_key, fingerprint)
    if existing is None:
        raise Conflict("This idempotencyKey is being used by another request; retry.", code="idempotency_key_reused")
    return existing, False


def _redemption_lock(redemption_id: int) -> Redemption:
    """The redemption, locked after its reward (the order redemption_create takes them in)."""
    reward_id = Redemption.objects.filter(pk=redemption_id).values_list("reward_id", flat=True).first()
    if reward_id is None:
        raise RedemptionNotFound(f"No redemption has id {redemption_id}.")
    Reward.objects.select_for_update().filter(pk=reward_id).values_list("pk").first()
    return Redemption.objects.select_for_update(of=("self",)).select_related("reward", "user").get(pk=redemption_id)


def _not_pending(redemption: Redemption, verb: str) -> RedemptionNotPending:
    if redemption.status == Redemption.Status.CANCELLED:
        why = f"it was already cancelled on {redemption.cancelled_at:%Y-%m-%d %H:%M} UTC"
    elif redemption.kind == Reward.Kind.CREDIT:
        why = "it is a credit, paid when it was redeemed"
    else:
        why = f"it was already fulfilled on {redemption.fulfilled_at:%Y-%m-%d %H:%M} UTC"
    return RedemptionNotPending(f"Redemption #{redemption.pk} cannot be {verb}: {why}.")


@transaction.atomic
def redemption_fulfil(*, redemption_id: int, actor: User) -> Redemption:
    """Staff have handed the item over: pending -> fulfilled."""
    redemption = _redemption_lock(redemption_id)
    if redemption.status != Redemption.Status.PENDING:
        raise _not_pending(redemption, "fulfilled")
    redemption.status = Redemption.Status.FULFILLED
    redemption.fulfilled_at = timezone.now()
    redemption.actor = actor
    redemption.save(update_fields=["status", "fulfilled_at", "actor"])
    outbox_publish(topic="points.redemption_fulfilled", payload=_payload(redemption), user=redemption.user)
    return redemption


@transaction.atomic
def redemption_cancel(*, redemption_id: int, actor: User, reason: str) -> Redemption:
    """The item cannot be delivered: pending -> cancelled. The points come back by a reversal of
    the redemption's entry, and the item goes back in stock."""
    if not reason.strip():
        raise InvalidInput("Say why the redemption is cancelled.", fields={"reason": ["This field is required."]})
    redemption = _redemption_lock(redemption_id)
    if redemption.status != Redemption.Status.PENDING:
        raise _not_pending(redemption, "cancelled")
    result = entry_reverse(
        entry_id=redemption.entry_id,
        actor=Ref("staff", actor.get_username()),
        reason=Ref("points_redemption_cancel", str(redemption.pk)),
        idempotency_key=Ref(CANCEL_KEY_TYPE, str(redemption.pk)),
    )
    if redemption.reward.stock is not None:
        Reward.objects.filter(pk=redemption.reward_id).update(stock=F("stock") + 1)
    redemption.status = Redemption.Status.CANCELLED
    redemption.reversal_entry_id = result.entry_id
    redemption.cancelled_at = timezone.now()
    redemption.cancel_reason = reason.strip()
    redemption.actor = actor
    redemption.save(update_fields=["status", "reversal_entry_id", "cancelled_at", "cancel_reason", "actor"])
    outbox_publish(topic="points.redemption_cancelled", payload=_payload(redemption), user=redemption.user)
    return redemption


@transaction.atomic
def reward_save(*, reward: Reward, stock_edited: bool = True) -> Reward:
    """Save Marketing's edit of a reward. Redemptions may have taken stock since the form was
    opened: unless the stock itself was edited, the stock left now is kept rather than the
    form's stale figure."""
    if reward.pk is not None and not stock_edited:
        reward.stock = Reward.objects.select_for_update().values_list("stock", flat=True).get(pk=reward.pk)
    reward.full_clean(exclude=["countries"])
    reward.save()
    return reward


CREDIT_RATE = DatedRate(
    model=CreditRate,
    value_field="rate",
    scope=("country_id",),
    noun="rate",
    constraint="points_creditrate_no_overlap",
)


def credit_rate_errors(*, rate: CreditRate) -> dict:
    """Everything wrong with saving `rate` as it is now, by field (empty when fine): the rules
    of every effective-dated rate (a rate in force keeps its value: close it, add the next)."""
    return dated_errors(CREDIT_RATE, rate)


def credit_rate_save(*, rate: CreditRate) -> CreditRate:
    """Create or change a credit rate under those rules; ValidationError names the field."""
    return dated_save(CREDIT_RATE, rate, errors=credit_rate_errors(rate=rate))
