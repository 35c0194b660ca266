"""Redeeming a gift card onto a user's balance, exactly once.

throttle → vendor verify → (one transaction) redemption row with the card's unique fingerprint,
ledger deposit keyed `gift_card:<fingerprint>`, and a hold on that money → vendor redeem →
completed (hold released, the money is spendable).

If the vendor cannot confirm, the redemption stays `awaiting_vendor` with the money deposited
but held (shown as pending, not spendable); the reconciler asks the vendor again with the same
idempotency key, then completes it, or reverses the deposit when the vendor refuses. A vendor
that never answers may still have redeemed the card, so after the last retry the redemption
goes to `needs_review` with the money still held, for Support to settle (ask again, or reverse)
— it is never taken back on a guess. So there is never a second deposit for a card, and never
spendable money without the vendor's confirmation.
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
from apps.giftcards.services.locks import card_lock
from apps.giftcards.vendors import CardCheck, VendorRefused, VendorUnavailable, route_for_card, vendor_for_route
from apps.giftcards.vendors.http import CircuitOpen
from apps.ledger.amounts import Ref
from apps.ledger.assets import asset_get
from apps.ledger.exceptions import UnknownAsset
from apps.ledger.models import Hold
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import deposit, entry_reverse, hold_create, hold_void
from config.errors import KhataError

logger = logging.getLogger(__name__)

CLEARING_ACCOUNT = "giftcard_vendor_clearing"
GIFT_CARD_TAGS = (("refund_policy", "no_refunds"), ("credit", "true"))
SYSTEM_ACTOR = Ref("system", "giftcards")
# the hold is released only by completing or reversing the redemption, never by the clock
HOLD_TTL = timedelta(days=3650)
FIRST_RETRY = timedelta(seconds=60)
MAX_BACKOFF = timedelta(hours=2)
# a reconciler run leases a redemption for this long so that two runs never ask at once
LEASE = timedelta(minutes=5)
RECONCILE_BATCH = 100
UNSETTLED = (Redemption.State.AWAITING_VENDOR, Redemption.State.NEEDS_REVIEW)


@sensitive_variables("card_number", "pin", "number")
def giftcard_redeem(*, user, card_number: str, pin: str, ip: str | None = None) -> Redemption:
    """Redeem a card for `user`. Raises InvalidCard, AlreadyRedeemed, CardExpired,
    TooManyAttempts, VendorUnavailableError, CardNotRedeemable or UnsupportedCurrency."""
    number = card_number_normalize(card_number)
    fingerprint = card_fingerprint(number or card_number or "")
    last4 = number[-4:]
    # Attempts at one card run one at a time (a lock for the card, held across the vendor call):
    # parallel requests for a card queue up and the later ones see it redeemed.
    with card_lock(fingerprint):
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
    except IntegrityError as exc:
        # the unique card fingerprint (or the vendor's card reference) decided: redeemed before
        if "card_fingerprint" in str(exc) or "vendor_card_once" in str(exc):
            raise AlreadyRedeemed() from None
        raise
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
    except CircuitOpen as exc:
        # the vendor was not asked: not an attempt
        return _confirm_later(redemption_id=redemption.pk, why=str(exc), counted=False)
    except VendorUnavailable as exc:
        return _confirm_later(redemption_id=redemption.pk, why=str(exc))
    return _complete(redemption_id=redemption.pk, confirmation=confirmation.confirmation)


def _locked(redemption_id: int) -> Redemption:
    return Redemption.objects.select_for_update().select_related("user").get(pk=redemption_id)


def _hold_release(redemption: Redemption) -> None:
    if Hold.objects.filter(pk=redemption.hold_id, status=Hold.Status.PENDING).exists():
        hold_void(hold_id=redemption.hold_id, actor=SYSTEM_ACTOR)


@transaction.atomic
def _complete(*, redemption_id: int, confirmation: str) -> Redemption:
    redemption = _locked(redemption_id)
    if redemption.state == Redemption.State.REVERSED:
        logger.error(
            "gift card vendor confirmed a redemption that was already reversed: settle with the vendor",
            extra={"redemption": redemption.public_id, "confirmation": confirmation},
        )
    if redemption.state not in UNSETTLED:
        return redemption
    _hold_release(redemption)
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
    if redemption.state not in UNSETTLED:
        return redemption
    _hold_release(redemption)
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


@transaction.atomic
def _confirm_later(*, redemption_id: int, why: str, counted: bool = True) -> Redemption:
    redemption = _locked(redemption_id)
    if redemption.state not in UNSETTLED:
        return redemption
    redemption.confirm_attempts += int(counted)
    redemption.last_error = why
    if redemption.confirm_attempts >= settings.GIFTCARD_CONFIRM_MAX_ATTEMPTS:
        # the vendor may have redeemed the card without telling us: keep the money held for review
        redemption.state = Redemption.State.NEEDS_REVIEW
        redemption.next_attempt_at = None
        logger.error(
            "gift card vendor never confirmed a redemption: held for review",
            extra={"redemption": redemption.public_id, "attempts": redemption.confirm_attempts, "why": why},
        )
    else:
        backoff = min(FIRST_RETRY * 2 ** max(redemption.confirm_attempts - 1, 0), MAX_BACKOFF)
        redemption.next_attempt_at = timezone.now() + backoff
        logger.warning(
            "gift card vendor did not confirm a redemption",
            extra={"redemption": redemption.public_id, "attempts": redemption.confirm_attempts, "why": why},
        )
    redemption.save(update_fields=["state", "confirm_attempts", "last_error", "next_attempt_at"])
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
    outcomes = {state: 0 for state in Redemption.State.values} | {"error": 0}
    for redemption_id in due:
        leased = Redemption.objects.filter(
            pk=redemption_id, state=Redemption.State.AWAITING_VENDOR, next_attempt_at__lte=now
        ).update(next_attempt_at=now + LEASE)
        if not leased:
            continue
        try:
            redemption = redemption_confirm(redemption=Redemption.objects.select_related("route").get(pk=redemption_id))
        except Exception:
            # one redemption's trouble must not stop the others; its lease expires and it is retried
            logger.exception("gift card redemption could not be reconciled", extra={"redemption_id": redemption_id})
            outcomes["error"] += 1
            continue
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
