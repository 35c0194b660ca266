"""Two-way point exchanges with partners.

Out (a user converts Khata points into a partner's): one transaction writes the Exchange
(pending) and the ledger entry `exchange_out:<exchange id>` moving the points from the user to the
system account `partner_settlement_<code>`; after commit the send task asks the partner to
credit, with the idempotency key `khata-exchange-<id>`. Confirmed → completed (outbox
`points.exchanged`). Unavailable → retried with backoff (`next_attempt_at`; the beat sweeper
sends whatever is due). Refused (4xx), or unavailable EXCHANGE_SEND_MAX_ATTEMPTS times → the
entry is reversed (`exchange_out_reversal:<id>`), the points are back, outbox
`points.exchange_reversed`. Points are never lost: they are either with the user, or in
settlement for an exchange that is pending or completed.

Never sent twice: a send locks the exchange row (SKIP LOCKED: a second worker skips it, and
nothing that is no longer pending is sent), and every retry carries the same idempotency key,
which the partner must honour (credit once, answer a repeat with the first reference). So when
the partner credited but its answer was lost (a timeout), the next attempt gets the original
reference back and no second credit. The one case the key cannot settle is a partner that
credits and then never answers again for the whole retry window: the exchange is reversed,
and the partner's record of the key is what Support reconciles against.

In (a partner converts its points into Khata's for a user): the Exchange (completed) and the
entry `exchange_in:<partner code>:<reference>` from settlement to the user, in one transaction;
the same reference again is the original exchange, or 409 with a different body.

Rounding: exact Decimal, floored (never credit a fraction that was not paid for); an exchange
that would give 0 is refused.
"""

import logging
import secrets
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.events.broker import tasks_publish
from apps.events.retry_policy import EARLY_ARRIVAL_SLACK, ERROR_TEXT_LIMIT, ProcessOutcome
from apps.events.services.outbox import outbox_publish
from apps.identity.models import User
from apps.ledger.amounts import MAX_UNIT_COUNT, Ref, request_hash
from apps.ledger.exceptions import IdempotencyKeyReused, InsufficientFunds
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import EntrySpec, Leg, entry_post, entry_reverse
from apps.points.exact import floor_product
from apps.points.exceptions import (
    ExchangeNotEnabled,
    ExchangeOutOfLimits,
    ExchangeRateMissing,
    ExchangeTooSmall,
    InsufficientPoints,
    UnknownPartner,
    UnknownUser,
)
from apps.points.models import Exchange, ExchangeDirection, ExchangeRate, Partner
from apps.points.partners import PartnerCredit, PartnerRefused, PartnerUnavailable, partner_client_for
from apps.points.services.awards import points_amount
from apps.points.services.dated_rates import DatedRate, dated_errors, dated_save
from config.errors import Conflict

logger = logging.getLogger(__name__)

EXCHANGE_OUT_KEY = "exchange_out"
EXCHANGE_OUT_REVERSAL_KEY = "exchange_out_reversal"
EXCHANGE_IN_KEY = "exchange_in"
SETTLEMENT_PREFIX = "partner_settlement_"
SYSTEM_ACTOR = Ref("system", "points_exchanges")
# failed calls to the partner before an exchange out is reversed: with the backoff below the
# partner has about two hours to come back
EXCHANGE_SEND_MAX_ATTEMPTS = 8
RETRY_FIRST_SECONDS = 60
RETRY_CAP_SECONDS = 60 * 60
# exchanges re-sent per sweeper run
EXCHANGE_SWEEP_BATCH = 200


def exchange_convert(*, count: int, rate: Decimal) -> int:
    """count × rate, exactly, rounded down."""
    return floor_product(count, rate)


def settlement_account(partner: Partner) -> str:
    """The system account that holds what was exchanged with the partner (it may go negative:
    points that came in from the partner)."""
    return f"{SETTLEMENT_PREFIX}{partner.code}"


EXCHANGE_RATE = DatedRate(
    model=ExchangeRate,
    value_field="rate",
    scope=("partner_id", "direction"),
    noun="rate",
    constraint="points_exchangerate_no_overlap",
)


def exchange_rate_errors(*, rate: ExchangeRate) -> dict:
    """Everything wrong with saving `rate` as it is now, by field: the rules of every
    effective-dated rate (a rate that priced exchanges keeps its value: close it, add the next)."""
    return dated_errors(EXCHANGE_RATE, rate)


def exchange_rate_save(*, rate: ExchangeRate) -> ExchangeRate:
    return dated_save(EXCHANGE_RATE, rate, errors=exchange_rate_errors(rate=rate))


def exchange_retry_delay(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed call: 60, 120, 240, ... capped at an hour."""
    return min(RETRY_FIRST_SECONDS * 2 ** max(attempts - 1, 0), RETRY_CAP_SECONDS)


def _replay(existing: Exchange, fingerprint: str, *, field: str) -> tuple[Exchange, bool]:
    if existing.request_hash != fingerprint:
        raise Conflict(
            f"This {field} was used for a different exchange (exchange {existing.pk}).",
            fields={field: ["Already used for a different exchange."]},
            code="idempotency_key_reused",
        )
    return existing, False


def _rate(*, partner: Partner, direction: str, at) -> ExchangeRate:
    rate = ExchangeRate.objects.in_force(partner=partner, direction=direction, at=at).first()
    if rate is None:
        raise ExchangeRateMissing(
            f"No {direction} exchange rate is in force for {partner.code}.",
            fields={"partnerId": ["No exchange rate in force."]},
        )
    return rate


def _event(exchange: Exchange) -> dict:
    return {
        "exchangeId": exchange.pk,
        "direction": exchange.direction,
        "status": exchange.status,
        "userId": exchange.user.external_id or str(exchange.user_id),
        "partnerId": exchange.partner.code,
        "partnerName": exchange.partner.name,
        "points": exchange.points,
        "partnerPoints": exchange.partner_points,
        "rate": str(exchange.rate.normalize()),
        "partnerReference": exchange.partner_reference,
        "entryId": exchange.entry_id,
        "reversalEntryId": exchange.reversal_entry_id,
    }


@transaction.atomic
def partner_exchange_secret_rotate(*, partner: Partner) -> str:
    """A new secret for signing exchanges sent to the partner; shown once, to give to them."""
    partner.exchange_secret = "pxsec_" + secrets.token_urlsafe(32)
    partner.save(update_fields=["exchange_secret"])
    return partner.exchange_secret


# --- out -------------------------------------------------------------------------------------


def exchanges_out_enqueue(*, exchange_ids: list[int]) -> int:
    from apps.points.tasks import points_exchange_send_task

    return tasks_publish(points_exchange_send_task, exchange_ids)


@transaction.atomic
def exchange_out_create(*, user: User, partner_id: str, points: int, idempotency_key: str) -> tuple[Exchange, bool]:
    """Move `points` from the user to the partner's settlement account and queue the credit at
    the partner. Returns (exchange, created); the same key with the same request returns the
    first exchange. Refusals raise, and write nothing."""
    fingerprint = request_hash({"partner": partner_id, "points": points})
    existing = Exchange.objects.filter(direction=ExchangeDirection.OUT, user=user, idempotency_key=idempotency_key)
    if (found := existing.first()) is not None:
        return _replay(found, fingerprint, field="idempotencyKey")
    partner = Partner.objects.filter(code=partner_id, is_active=True).first()
    if partner is None:
        raise UnknownPartner(f"No active partner '{partner_id}'.", fields={"partnerId": ["Unknown partner."]})
    if not partner.exchange_out_enabled:
        raise ExchangeNotEnabled(
            f"{partner.name} does not take exchanges out.", fields={"partnerId": ["Exchanges out are not enabled."]}
        )
    high = partner.exchange_out_max_points
    if points < partner.exchange_out_min_points or (high is not None and points > high):
        limits = (
            f"{partner.exchange_out_min_points} to {high}" if high else f"at least {partner.exchange_out_min_points}"
        )
        raise ExchangeOutOfLimits(
            f"{partner.name} takes {limits} points per exchange.", fields={"points": [f"Send {limits} points."]}
        )
    now = timezone.now()
    rate = _rate(partner=partner, direction=ExchangeDirection.OUT, at=now)
    partner_points = exchange_convert(count=points, rate=rate.rate)
    if partner_points <= 0:
        raise ExchangeTooSmall(
            f"{points} points make 0 {partner.name} points at the rate {rate.rate.normalize()}.",
            fields={"points": ["Converts to 0 partner points."]},
        )
    if partner_points > MAX_UNIT_COUNT:
        raise ExchangeOutOfLimits(fields={"points": ["Converts to more partner points than one exchange may."]})
    try:
        with transaction.atomic():
            exchange = Exchange.objects.create(
                direction=ExchangeDirection.OUT,
                partner=partner,
                user=user,
                points=points,
                partner_points=partner_points,
                rate=rate.rate,
                exchange_rate=rate,
                status=Exchange.Status.PENDING,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
                next_attempt_at=now,
                created_at=now,
            )
    except IntegrityError:
        # the same key, at the same moment, from a parallel request that has now committed
        found = existing.first()
        if found is None:
            raise
        return _replay(found, fingerprint, field="idempotencyKey")
    try:
        result = entry_post(
            spec=EntrySpec(
                legs=(
                    Leg(points_amount(-points), owner=owner_ref_for_user(user)),
                    Leg(points_amount(points), system=settlement_account(partner)),
                ),
                actor=owner_ref_for_user(user),
                reason=Ref("points_exchange_out", str(exchange.pk)),
                idempotency_key=Ref(EXCHANGE_OUT_KEY, str(exchange.pk)),
                kind="points_exchange",
                metadata={"exchange_id": exchange.pk, "partner": partner.code, "partner_points": partner_points},
            )
        )
    except InsufficientFunds:
        raise InsufficientPoints(
            f"Exchanging {points} points needs {points} available points.", fields={"points": ["More than you have."]}
        ) from None
    exchange.entry_id = result.entry_id
    exchange.save(update_fields=["entry_id"])
    transaction.on_commit(lambda: exchanges_out_enqueue(exchange_ids=[exchange.pk]))
    return exchange, True


def exchange_out_send(*, exchange_id: int, force: bool = False) -> ProcessOutcome:
    """Ask the partner to credit a pending exchange out, if it is due (or `force`d by staff).
    The row stays locked during the call, so no other worker sends it meanwhile."""
    with transaction.atomic():
        exchange = (
            Exchange.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("partner", "user")
            .filter(pk=exchange_id, direction=ExchangeDirection.OUT, status=Exchange.Status.PENDING)
            .first()
        )
        if exchange is None:
            return ProcessOutcome("skipped")  # settled, or being sent by another worker
        now = timezone.now()
        if not force and exchange.next_attempt_at and exchange.next_attempt_at > now + EARLY_ARRIVAL_SLACK:
            return ProcessOutcome("skipped")
        credit = PartnerCredit(
            idempotency_key=exchange.partner_idempotency_key,
            exchange_id=exchange.pk,
            user_id=exchange.user.external_id or str(exchange.user_id),
            partner_points=exchange.partner_points,
            points=exchange.points,
            rate=exchange.rate,
        )
        try:
            confirmation = partner_client_for(exchange.partner).credit(credit)
        except PartnerRefused as exc:
            _out_reverse(exchange, why=f"the partner refused: {exc}")
            return ProcessOutcome("failed")
        except PartnerUnavailable as exc:
            return _out_failed(exchange, why=str(exc), now=now)
        except Exception as exc:
            # a defect in a client counts as a failed call: retried, then reversed, never stuck
            logger.exception("exchange %s: the partner client failed", exchange.pk)
            return _out_failed(exchange, why=f"{type(exc).__name__}: {exc}", now=now)
        exchange.status = Exchange.Status.COMPLETED
        exchange.partner_reference = confirmation.reference
        exchange.completed_at = now
        exchange.next_attempt_at = None
        exchange.save(update_fields=["status", "partner_reference", "completed_at", "next_attempt_at"])
        outbox_publish(topic="points.exchanged", payload=_event(exchange), user=exchange.user)
        return ProcessOutcome("processed")


def _out_failed(exchange: Exchange, *, why: str, now) -> ProcessOutcome:
    exchange.attempts += 1
    exchange.last_error = why[:ERROR_TEXT_LIMIT]
    if exchange.attempts >= EXCHANGE_SEND_MAX_ATTEMPTS:
        _out_reverse(exchange, why=f"the partner did not confirm in {exchange.attempts} attempts; last: {why}")
        return ProcessOutcome("failed")
    delay = exchange_retry_delay(exchange.attempts)
    exchange.next_attempt_at = now + timedelta(seconds=delay)
    exchange.save(update_fields=["attempts", "last_error", "next_attempt_at"])
    logger.warning("exchange %s: partner unavailable (attempt %s): %s", exchange.pk, exchange.attempts, why)
    return ProcessOutcome("retry", retry_in=delay)


def _out_reverse(exchange: Exchange, *, why: str) -> None:
    """Give a pending exchange's points back (the caller holds the row lock)."""
    reversal = entry_reverse(
        entry_id=exchange.entry_id,
        actor=SYSTEM_ACTOR,
        reason=Ref("points_exchange_out_reversal", str(exchange.pk)),
        idempotency_key=Ref(EXCHANGE_OUT_REVERSAL_KEY, str(exchange.pk)),
    )
    exchange.status = Exchange.Status.REVERSED
    exchange.reversal_entry_id = reversal.entry_id
    exchange.reversed_at = timezone.now()
    exchange.next_attempt_at = None
    exchange.last_error = why[:ERROR_TEXT_LIMIT]
    exchange.save(
        update_fields=["status", "reversal_entry_id", "reversed_at", "next_attempt_at", "last_error", "attempts"]
    )
    outbox_publish(topic="points.exchange_reversed", payload=_event(exchange), user=exchange.user)
    logger.warning("exchange %s reversed: %s", exchange.pk, why)


@transaction.atomic
def exchange_out_reverse(*, exchange_id: int, why: str) -> Exchange:
    """Staff: give a pending exchange's points back now. Waits for a send in progress; an
    exchange that is no longer pending is left as it is."""
    exchange = Exchange.objects.select_for_update(of=("self",)).select_related("partner", "user").get(pk=exchange_id)
    if exchange.direction == ExchangeDirection.OUT and exchange.status == Exchange.Status.PENDING:
        _out_reverse(exchange, why=why)
    return exchange


def exchanges_out_due(*, limit: int = EXCHANGE_SWEEP_BATCH) -> list[int]:
    return list(
        Exchange.objects.filter(
            direction=ExchangeDirection.OUT, status=Exchange.Status.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


# --- in --------------------------------------------------------------------------------------


@transaction.atomic
def exchange_in_record(
    *, partner: Partner, partner_reference: str, user_external_id: str, partner_points: int
) -> tuple[Exchange, bool]:
    """Credit a user with Khata points for `partner_points` of the partner's. Returns
    (exchange, created); the same reference with the same request returns the first exchange."""
    fingerprint = request_hash({"user": user_external_id, "partner_points": partner_points})
    existing = Exchange.objects.filter(
        direction=ExchangeDirection.IN, partner=partner, partner_reference=partner_reference
    )
    if (found := existing.first()) is not None:
        return _replay(found, fingerprint, field="reference")
    if not (partner.is_active and partner.exchange_in_enabled):
        raise ExchangeNotEnabled(f"{partner.name} may not exchange points in.")
    user = User.objects.filter(external_id=user_external_id).first()
    if user is None:
        raise UnknownUser(f"No user has userId '{user_external_id}'.", fields={"userId": ["Unknown user."]})
    now = timezone.now()
    rate = _rate(partner=partner, direction=ExchangeDirection.IN, at=now)
    points = exchange_convert(count=partner_points, rate=rate.rate)
    if points <= 0:
        raise ExchangeTooSmall(
            f"{partner_points} partner points make 0 points at the rate {rate.rate.normalize()}.",
            fields={"partnerPoints": ["Converts to 0 points."]},
        )
    if points > MAX_UNIT_COUNT:
        raise ExchangeOutOfLimits(fields={"partnerPoints": ["Converts to more points than one exchange may."]})
    token = f"{partner.code}:{partner_reference}"
    try:
        with transaction.atomic():
            # a parallel request with this reference waits here for the first to commit, then
            # gets its entry back (same request) or idempotency_key_reused (a different one)
            result = entry_post(
                spec=EntrySpec(
                    legs=(
                        Leg(points_amount(points), owner=owner_ref_for_user(user)),
                        Leg(points_amount(-points), system=settlement_account(partner)),
                    ),
                    actor=Ref("partner", partner.code),
                    reason=Ref("points_exchange_in", token),
                    idempotency_key=Ref(EXCHANGE_IN_KEY, token),
                    kind="points_exchange",
                    metadata={
                        "partner": partner.code,
                        "reference": partner_reference,
                        "partner_points": partner_points,
                    },
                )
            )
            exchange = Exchange.objects.create(
                direction=ExchangeDirection.IN,
                partner=partner,
                user=user,
                points=points,
                partner_points=partner_points,
                rate=rate.rate,
                exchange_rate=rate,
                status=Exchange.Status.COMPLETED,
                idempotency_key=partner_reference,
                partner_reference=partner_reference,
                request_hash=fingerprint,
                entry_id=result.entry_id,
                created_at=now,
                completed_at=now,
            )
    except (IntegrityError, IdempotencyKeyReused):
        found = existing.first()
        if found is None:
            raise
        return _replay(found, fingerprint, field="reference")
    outbox_publish(topic="points.exchange_received", payload=_event(exchange), user=user)
    return exchange, True
