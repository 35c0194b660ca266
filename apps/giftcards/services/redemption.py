"""Redeeming a gift card onto a user's balance, exactly once.

throttle → vendor verify → (one transaction) redemption row with the card's unique fingerprint,
ledger deposit keyed `gift_card:<fingerprint>`, and a hold on that money → vendor redeem →
completed (hold released, the money is spendable).

If the vendor cannot confirm, the redemption stays `awaiting_vendor` with the money deposited
but held (shown as pending, not spendable); the reconciler asks the vendor again with the same
idempotency key, then completes it, or reverses the deposit when the vendor refuses or never
answers. So there is never a second deposit for a card, and never spendable money without the
vendor's confirmation.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apps.events.services.outbox import outbox_publish
from apps.giftcards.cards import card_fingerprint, card_number_normalize, pin_well_formed
from apps.giftcards.exceptions import (
    AlreadyRedeemed,
    CardExpired,
    CardNotRedeemable,
    InvalidCard,
    UnsupportedCurrency,
    VendorUnavailableError,
)
from apps.giftcards.models import Redemption, RedemptionAttempt
from apps.giftcards.services.attempts import attempt_begin, attempt_finish
from apps.giftcards.vendors import CardCheck, VendorRefused, VendorUnavailable, route_for_card, vendor_for_route
from apps.ledger.amounts import Ref
from apps.ledger.assets import asset_get
from apps.ledger.exceptions import UnknownAsset
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import deposit, entry_reverse, hold_create, hold_void
from config.errors import KhataError

logger = logging.getLogger(__name__)

CLEARING_ACCOUNT = "giftcard_vendor_clearing"
GIFT_CARD_TAGS = (("refund_policy", "no_refunds"), ("credit", "true"))
SYSTEM_ACTOR = Ref("system", "giftcards")
# the hold outlives every reconciler retry (the backoff below sums to a few hours)
HOLD_TTL = timedelta(days=30)
FIRST_RETRY = timedelta(seconds=60)
MAX_BACKOFF = timedelta(hours=2)
# a reconciler run leases a redemption for this long so that two runs never ask at once
LEASE = timedelta(minutes=5)
RECONCILE_BATCH = 100


@sensitive_variables("card_number", "pin", "number")
def giftcard_redeem(*, user, card_number: str, pin: str, ip: str | None = None) -> Redemption:
    """Redeem a card for `user`. Raises InvalidCard, AlreadyRedeemed, CardExpired,
    TooManyAttempts, VendorUnavailableError, CardNotRedeemable or UnsupportedCurrency."""
    number = card_number_normalize(card_number)
    fingerprint = card_fingerprint(number or card_number or "")
    last4 = number[-4:]
    attempt = attempt_begin(user=user, fingerprint=fingerprint, last4=last4, ip=ip)
    try:
        redemption = _redeem(user=user, number=number, pin=pin, fingerprint=fingerprint, ip=ip)
    except KhataError as exc:
        attempt_finish(attempt=attempt, outcome=exc.code)
        raise
    except Exception:
        attempt_finish(attempt=attempt, outcome=RedemptionAttempt.Outcome.ERROR)
        raise
    attempt_finish(attempt=attempt, outcome=redemption.state, redemption=redemption)
    if redemption.state == Redemption.State.REVERSED:
        raise CardNotRedeemable()
    return redemption


@sensitive_variables("number", "pin")
def _redeem(*, user, number: str, pin: str, fingerprint: str, ip: str | None) -> Redemption:
    if not number or not pin_well_formed(pin):
        raise InvalidCard()
    route = route_for_card(number)
    if route is None:
        raise InvalidCard()
    vendor = vendor_for_route(route)
    try:
        check = vendor.verify(number, pin)
    except VendorUnavailable as exc:
        logger.warning("gift card vendor unavailable at verify", extra={"route": route.name, "why": str(exc)})
        raise VendorUnavailableError() from None
    if not check.valid:
        raise InvalidCard()
    if check.redeemed or Redemption.objects.filter(card_fingerprint=fingerprint).exists():
        raise AlreadyRedeemed()
    if check.expired:
        raise CardExpired()
    try:
        asset_get(check.amount.unit_type, check.amount.unit_token)
    except UnknownAsset:
        raise UnsupportedCurrency(f"Khata does not hold {check.amount.unit_token}.") from None
    redemption = _deposit_held(user=user, route=route, check=check, fingerprint=fingerprint, last4=number[-4:], ip=ip)
    return redemption_confirm(redemption=redemption)


@transaction.atomic
def _deposit_held(*, user, route, check: CardCheck, fingerprint: str, last4: str, ip: str | None) -> Redemption:
    try:
        with transaction.atomic():
            redemption = Redemption.objects.create(
                public_id=secrets.token_hex(6),
                user=user,
                card_fingerprint=fingerprint,
                card_last4=last4,
                route=route,
                vendor_reference=check.reference,
                channel=check.channel,
                where_sold=check.where_sold,
                value_kind=check.value_kind,
                unit_type=check.amount.unit_type,
                unit_token=check.amount.unit_token,
                unit_count=check.amount.unit_count,
                next_attempt_at=timezone.now() + FIRST_RETRY,
                ip=ip,
            )
    except IntegrityError:
        # another request redeemed this card first (the unique fingerprint decided)
        raise AlreadyRedeemed() from None
    owner = owner_ref_for_user(user)
    result = deposit(
        owner=owner,
        creator=owner,
        amount=check.amount,
        reason=Ref("gift_card_redemption", redemption.public_id),
        idempotency_key=Ref("gift_card", fingerprint),
        tags=GIFT_CARD_TAGS,
        source_system=CLEARING_ACCOUNT,
        metadata={"description": f"gift card •••• {last4}", "vendor": route.name},
    )
    hold, _ = hold_create(
        owner=owner,
        actor=SYSTEM_ACTOR,
        amount=check.amount,
        reason=Ref("gift_card_awaiting_vendor", redemption.public_id),
        idempotency_key=Ref("gift_card_awaiting_vendor", fingerprint),
        expires_at=timezone.now() + HOLD_TTL,
    )
    redemption.deposit_entry_id = result.entry_id
    redemption.hold_id = hold.pk
    redemption.save(update_fields=["deposit_entry_id", "hold_id"])
    return redemption


def redemption_confirm(*, redemption: Redemption) -> Redemption:
    """Ask the vendor to redeem (idempotently); complete, reverse, or try again later."""
    vendor = vendor_for_route(redemption.route)
    try:
        confirmation = vendor.redeem(redemption.vendor_reference, redemption.vendor_idempotency_key)
    except VendorRefused as exc:
        return redemption_reverse(redemption_id=redemption.pk, why=f"vendor refused: {exc}")
    except VendorUnavailable as exc:
        return _confirm_later(redemption_id=redemption.pk, why=str(exc))
    return _complete(redemption_id=redemption.pk, confirmation=confirmation.confirmation)


def _locked(redemption_id: int) -> Redemption:
    return Redemption.objects.select_for_update().select_related("user").get(pk=redemption_id)


@transaction.atomic
def _complete(*, redemption_id: int, confirmation: str) -> Redemption:
    redemption = _locked(redemption_id)
    if redemption.state != Redemption.State.AWAITING_VENDOR:
        return redemption
    hold_void(hold_id=redemption.hold_id, actor=SYSTEM_ACTOR)
    redemption.state = Redemption.State.COMPLETED
    redemption.vendor_confirmation = confirmation
    redemption.completed_at = timezone.now()
    redemption.next_attempt_at = None
    redemption.save(update_fields=["state", "vendor_confirmation", "completed_at", "next_attempt_at"])
    outbox_publish(topic="giftcard.redeemed", payload=_event(redemption), user=redemption.user)
    return redemption


@transaction.atomic
def redemption_reverse(*, redemption_id: int, why: str) -> Redemption:
    """Take back a deposit the vendor did not confirm: release the hold, reverse the entry."""
    redemption = _locked(redemption_id)
    if redemption.state != Redemption.State.AWAITING_VENDOR:
        return redemption
    hold_void(hold_id=redemption.hold_id, actor=SYSTEM_ACTOR)
    reversal = entry_reverse(
        entry_id=redemption.deposit_entry_id,
        actor=SYSTEM_ACTOR,
        reason=Ref("gift_card_redemption_reversal", redemption.public_id),
        idempotency_key=Ref("gift_card_reversal", redemption.card_fingerprint),
    )
    redemption.state = Redemption.State.REVERSED
    redemption.reversal_entry_id = reversal.entry_id
    redemption.reversed_at = timezone.now()
    redemption.next_attempt_at = None
    redemption.last_error = why
    redemption.save(update_fields=["state", "reversal_entry_id", "reversed_at", "next_attempt_at", "last_error"])
    outbox_publish(topic="giftcard.redemption_reversed", payload=_event(redemption), user=redemption.user)
    logger.warning("gift card redemption reversed", extra={"redemption": redemption.public_id, "why": why})
    return redemption


def _confirm_later(*, redemption_id: int, why: str) -> Redemption:
    with transaction.atomic():
        redemption = _locked(redemption_id)
        if redemption.state != Redemption.State.AWAITING_VENDOR:
            return redemption
        redemption.confirm_attempts += 1
        redemption.last_error = why
        give_up = redemption.confirm_attempts >= settings.GIFTCARD_CONFIRM_MAX_ATTEMPTS
        if not give_up:
            backoff = min(FIRST_RETRY * 2 ** (redemption.confirm_attempts - 1), MAX_BACKOFF)
            redemption.next_attempt_at = timezone.now() + backoff
        redemption.save(update_fields=["confirm_attempts", "last_error", "next_attempt_at"])
    logger.warning(
        "gift card vendor did not confirm a redemption",
        extra={"redemption": redemption.public_id, "attempts": redemption.confirm_attempts, "why": why},
    )
    if give_up:
        return redemption_reverse(
            redemption_id=redemption_id,
            why=f"vendor did not confirm after {redemption.confirm_attempts} attempts: {why}",
        )
    return redemption


def redemptions_reconcile(*, limit: int = RECONCILE_BATCH) -> dict[str, int]:
    """Ask the vendor again about every redemption whose retry is due. Each is leased first
    (its next attempt pushed out), so overlapping runs never ask about the same one."""
    now = timezone.now()
    due = list(
        Redemption.objects.filter(state=Redemption.State.AWAITING_VENDOR, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    outcomes = {"completed": 0, "reversed": 0, "awaiting_vendor": 0}
    for redemption_id in due:
        leased = Redemption.objects.filter(
            pk=redemption_id, state=Redemption.State.AWAITING_VENDOR, next_attempt_at__lte=now
        ).update(next_attempt_at=now + LEASE)
        if not leased:
            continue
        redemption = redemption_confirm(redemption=Redemption.objects.select_related("route").get(pk=redemption_id))
        outcomes[redemption.state] += 1
    return outcomes


def _event(redemption: Redemption) -> dict:
    return {
        "redemption_id": redemption.public_id,
        "user_id": redemption.user.external_id or f"khata-{redemption.user.pk}",
        "state": redemption.state,
        "card_last4": redemption.card_last4,
        "amount": {
            "unit_type": redemption.unit_type,
            "unit_token": redemption.unit_token,
            "unit_count": redemption.unit_count,
        },
        "deposit_entry_id": redemption.deposit_entry_id,
        "reversal_entry_id": redemption.reversal_entry_id,
    }
