"""The award pipeline: price transactions into Award rows, then post them to the ledger.

    transaction.completed -> awards_record (price, one Award per transaction, in the event's
    transaction) -> award queue -> awards_post (ledger entry `<source>:<reference>` from
    points_issued, activity and expiry date, outbox `points.awarded`) -> stream consumers

Both steps are exactly-once: an Award is unique per (source, reference), and its ledger entry
is unique per idempotency key; a task that runs twice, or a worker killed mid-batch, finds the
work done (or rolled back) and does it once.
"""

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.events.broker import tasks_publish
from apps.events.services.outbox import outbox_publish_many
from apps.identity.models import User
from apps.ledger.amounts import Amount, Ref, request_hash
from apps.ledger.locks import owner_accounts_lock
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import EntrySpec, Leg, entries_post_batch
from apps.points.calculation import ConfigSnapshot, Quote, TransactionFacts
from apps.points.exceptions import ConfigurationMissing, PartnerNotConfigured, TransactionIdReused, UnknownUser
from apps.points.models import Award, Country, Partner, Vertical
from apps.points.months import expiry_date
from apps.points.services.tiers import tiers_at, tiers_held
from config.errors import Conflict, KhataError
from config.json_rows import json_rows_insert

logger = logging.getLogger(__name__)

POINTS_ASSET = ("points", "GRP")
POINTS_ISSUED = "points_issued"
TRANSACTION_SOURCE = "transaction"
# Awards per award-queue task: one ledger batch call and one transaction each.
AWARD_CHUNK = 1000
# A transactionId seen again must describe the same transaction to count as a repeat.
_SAME_TRANSACTION = (
    "user_id",
    "country_code",
    "vertical",
    "payment_type",
    "unit_token",
    "unit_count",
    "transaction_at",
)


@dataclass(frozen=True)
class TransactionIn:
    transaction_id: str
    user_external_id: str
    facts: TransactionFacts
    inbound_event_id: int | None = None


def transaction_in(data: dict, *, inbound_event_id: int | None = None) -> TransactionIn:
    """A transaction from validated (snake_case) fields of an event payload or a quote request."""
    return TransactionIn(
        transaction_id=data.get("transaction_id", ""),
        user_external_id=data["user_id"],
        facts=TransactionFacts(
            country_code=data["country_code"],
            vertical=data["vertical"],
            payment_type=data["payment_type"],
            amount=Amount(**data["amount"]),
            completed_at=data["completed_at"],
        ),
        inbound_event_id=inbound_event_id,
    )


def points_amount(points: int) -> Amount:
    return Amount(*POINTS_ASSET, points)


def awards_enqueue(*, award_ids: list[int]) -> int:
    from apps.points.tasks import points_awards_post_task

    chunks = [award_ids[i : i + AWARD_CHUNK] for i in range(0, len(award_ids), AWARD_CHUNK)]
    return tasks_publish(points_awards_post_task, chunks)


def transactions_quote(
    *, transactions: list[TransactionIn], snapshot: ConfigSnapshot | None = None
) -> tuple[dict[int, tuple[User, Quote]], dict[int, KhataError]]:
    """Price each transaction (by index). Missing configuration or user is a failure of
    that transaction alone."""
    snapshot = snapshot or ConfigSnapshot()
    users = {
        u.external_id: u
        for u in User.objects.filter(external_id__in={t.user_external_id for t in transactions}).only("external_id")
    }
    quotes: dict[int, tuple[User, Quote]] = {}
    failures: dict[int, KhataError] = {}
    held = tiers_held(
        pairs=[
            (users[t.user_external_id].pk, t.facts.completed_at) for t in transactions if t.user_external_id in users
        ],
        tiers=snapshot.tiers,
    )
    for index, t in enumerate(transactions):
        user = users.get(t.user_external_id)
        if user is None:
            failures[index] = UnknownUser(f"No user has userId '{t.user_external_id}' (yet).")
            continue
        try:
            tier = held.get((user.pk, t.facts.completed_at)) or snapshot.entry_tier()
            quotes[index] = (user, snapshot.quote(facts=t.facts, tier=tier))
        except ConfigurationMissing as exc:
            failures[index] = exc
    return quotes, failures


def awards_record(*, transactions: list[TransactionIn]) -> dict[int, KhataError]:
    """Price and record an Award for each transaction, in the caller's transaction; queue them
    for the ledger after commit. Returns failures by index (nothing is written for those).
    A transaction id seen before is not awarded again."""
    quotes, failures = transactions_quote(transactions=transactions)
    awards: dict[int, Award] = {}
    for index, (user, quote) in quotes.items():
        t = transactions[index]
        if quote.points <= 0:
            continue  # nothing earned (a tiny amount): no award, no entry
        awards[index] = Award(
            source=TRANSACTION_SOURCE,
            reference=t.transaction_id,
            user=user,
            points=quote.points,
            breakdown=quote.breakdown,
            country_code=t.facts.country_code,
            vertical=t.facts.vertical,
            payment_type=t.facts.payment_type,
            unit_token=t.facts.amount.unit_token,
            unit_count=t.facts.amount.unit_count,
            transaction_at=t.facts.completed_at,
            inbound_event_id=t.inbound_event_id,
        )
    if not awards:
        return failures
    # inserted in reference order, so parallel batches meet on the unique index in one order
    inserted = dict(
        json_rows_insert(
            objs=sorted(awards.values(), key=lambda a: a.reference),
            ignore_conflicts=True,
            returning=("reference", "id"),
        )
    )
    pending = set(inserted.values())
    # a transaction id seen before: the same transaction again, or a different one under its id
    seen = Counter(award.reference for award in awards.values())
    repeats = [reference for reference, count in seen.items() if count > 1 or reference not in inserted]
    stored = {
        row["reference"]: row
        for row in Award.objects.filter(source=TRANSACTION_SOURCE, reference__in=repeats).values(
            "id", "reference", "status", *_SAME_TRANSACTION
        )
    }
    for index, award in awards.items():
        row = stored.get(award.reference)
        if row is None:
            continue
        if any(row[name] != getattr(award, name) for name in _SAME_TRANSACTION):
            failures[index] = TransactionIdReused(
                f"transactionId '{award.reference}' was already awarded for a different transaction "
                f"(award {row['id']}); nothing was awarded for this one."
            )
        elif row["status"] == Award.Status.PENDING:
            pending.add(row["id"])
    if pending:
        ids = sorted(pending)
        transaction.on_commit(lambda: awards_enqueue(award_ids=ids))
    return failures


def partner_award_record(
    *,
    partner: Partner,
    idempotency_key: str,
    user: User,
    points: int | None = None,
    amount: Amount | None = None,
    transaction_at: datetime | None = None,
    description: str = "",
) -> tuple[Award, bool]:
    """A partner's award: fixed points, or an amount priced with the partner's own rate.
    Returns (award, created); the same key with the same request returns the first award."""
    if not partner.is_active:
        raise PartnerNotConfigured("This partner is not active.")
    at = transaction_at or timezone.now()
    fingerprint = request_hash(
        {
            "user": user.pk,
            "points": points,
            "amount": amount.as_dict() if amount else None,
            "at": transaction_at.isoformat() if transaction_at else None,
            "description": description,
        }
    )
    source = f"partner:{partner.code}"
    existing = Award.objects.filter(source=source, reference=idempotency_key).first()
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise Conflict("This idempotencyKey was used for a different award.", code="idempotency_key_reused")
        return existing, False
    snapshot = ConfigSnapshot()
    if amount is not None:
        tier = tiers_at(moments={user.pk: at}, tiers=snapshot.tiers).get(user.pk) or snapshot.entry_tier()
        quote = snapshot.partner_quote(partner=partner, amount=amount, at=at, tier=tier)
    else:
        quote = Quote(points, {"formula": "fixed", "partner": partner.code, "points": points})
    if quote.points <= 0:
        raise ConfigurationMissing(
            "The amount earns no points at this partner's rate.", fields={"amount": ["Earns 0 points."]}
        )
    with transaction.atomic():
        award, created = Award.objects.get_or_create(
            source=source,
            reference=idempotency_key,
            defaults={
                "user": user,
                "points": quote.points,
                "breakdown": {**quote.breakdown, "description": description} if description else quote.breakdown,
                "unit_token": amount.unit_token if amount else "",
                "unit_count": amount.unit_count if amount else None,
                "transaction_at": at,
                "partner": partner,
                "request_hash": fingerprint,
            },
        )
        if not created and award.request_hash != fingerprint:
            raise Conflict("This idempotencyKey was used for a different award.", code="idempotency_key_reused")
        if created:
            transaction.on_commit(lambda: awards_enqueue(award_ids=[award.pk]))
    return award, created


def _award_entry(award: Award) -> EntrySpec:
    return EntrySpec(
        legs=(
            Leg(points_amount(award.points), owner=owner_ref_for_user(award.user)),
            Leg(points_amount(-award.points), system=POINTS_ISSUED),
        ),
        actor=Ref("system", "points"),
        reason=Ref("points_award", award.idempotency_key),
        idempotency_key=Ref(award.source, award.reference),
        kind="points_award",
        metadata={"award_id": award.pk, "transaction_at": award.transaction_at.isoformat()},
    )


def _occasion(award: Award, nouns: dict[str, str]) -> str:
    if award.vertical:
        return f"your {nouns.get(award.vertical) or award.vertical + ' order'}"
    if award.partner_id:
        return f"your {award.partner.name} purchase"
    return "your activity"


def _activity_update(awards: list[Award], countries: dict) -> None:
    """Each user's last earning time and points expiry date move forward, never back. The
    country whose time zone and window gave the latest date is kept with it (it decides which
    country's monthly run expires the points)."""
    latest: dict[int, tuple[datetime, object, str]] = {}
    for award in awards:
        code = award.country_code or award.user.country
        country = countries.get(code)
        expires = (
            expiry_date(at=award.transaction_at, time_zone=country.time_zone, months=country.expiry_months)
            if country
            else None
        )
        at, date, date_country = latest.get(award.user_id, (award.transaction_at, None, ""))
        if expires is not None and (date is None or expires > date):
            date, date_country = expires, code
        latest[award.user_id] = (max(at, award.transaction_at), date, date_country)
    rows = [
        {"u": user_id, "at": at.isoformat(), "d": date.isoformat() if date else None, "c": code}
        for user_id, (at, date, code) in sorted(latest.items())
    ]
    with connection.cursor() as cursor:  # one statement for the chunk, users in id order
        cursor.execute(
            """
            INSERT INTO points_pointsprofile (user_id, last_earned_at, expires_at, expiry_country, earned_in_window)
            SELECT r.u, r.at, r.d, r.c, 0
              FROM jsonb_to_recordset(%s::jsonb) AS r(u bigint, at timestamptz, d date, c text) ORDER BY r.u
            ON CONFLICT (user_id) DO UPDATE SET
              last_earned_at = GREATEST(points_pointsprofile.last_earned_at, EXCLUDED.last_earned_at),
              expires_at = GREATEST(points_pointsprofile.expires_at, EXCLUDED.expires_at),
              expiry_country = CASE
                WHEN EXCLUDED.expires_at IS NOT NULL
                 AND EXCLUDED.expires_at >= COALESCE(points_pointsprofile.expires_at, EXCLUDED.expires_at)
                THEN EXCLUDED.expiry_country ELSE points_pointsprofile.expiry_country END
            """,
            [json.dumps(rows)],
        )


# what posting reads of an award and its user: not the breakdown (a JSON document per award) and,
# of the wide user row, only what the entry, the expiry date and the stream message need
_AWARD_FIELDS = [f.name for f in Award._meta.concrete_fields if f.name != "breakdown"]


def awards_post(*, award_ids: list[int]) -> int:
    """Post pending awards to the ledger, in one transaction; returns how many were posted."""
    with transaction.atomic():
        # locked by primary key alone, the status checked here (see inbound_events_process_batch:
        # with it in SQL, every pending award was scanned once per chunk)
        awards = [
            award
            for award in Award.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "partner")
            .only(*_AWARD_FIELDS, "user__external_id", "user__country", "partner__name")
            .filter(pk__in=award_ids)
            .order_by("pk")
            if award.status == Award.Status.PENDING
        ]
        if not awards:
            return 0
        # the users' point accounts, locked in one order, before entries touch them in award order
        owner_accounts_lock(
            owner_type="user",
            owner_ids=[owner_ref_for_user(a.user).value for a in awards],
            unit_type=POINTS_ASSET[0],
            unit_token=POINTS_ASSET[1],
        )
        results = entries_post_batch(entries=[_award_entry(a) for a in awards])
        now = timezone.now()
        posted, refused = [], []
        for award, result in zip(awards, results, strict=True):
            if isinstance(result, KhataError):
                # points_issued may go negative, so only a key taken by another entry refuses:
                # recorded for staff, and no longer retried by the sweeper
                logger.error("award %s refused by the ledger: %s", award.pk, result)
                award.status = Award.Status.REFUSED
                award.last_error = f"{result.code}: {result.message}"
                refused.append(award)
                continue
            award.status = Award.Status.AWARDED
            award.entry_id = result.entry_id
            award.awarded_at = now
            posted.append(award)
        if refused:
            Award.objects.bulk_update(refused, ["status", "last_error"])
        if not posted:
            return 0
        with connection.cursor() as cursor:  # one UPDATE from arrays (bulk_update's CASE per row is slow)
            cursor.execute(
                "UPDATE points_award a SET status = %s, entry_id = u.entry_id, awarded_at = %s"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS u(id, entry_id) WHERE a.id = u.id",
                [Award.Status.AWARDED, now, [a.pk for a in posted], [a.entry_id for a in posted]],
            )
        _activity_update(posted, {c.code: c for c in Country.objects.all()})
        nouns = dict(Vertical.objects.values_list("code", "noun"))
        outbox_publish_many(
            messages=[
                (
                    "points.awarded",
                    {
                        "awardId": award.pk,
                        "userId": award.user.external_id or str(award.user_id),
                        "points": award.points,
                        "source": award.source,
                        "reference": award.reference,
                        "vertical": award.vertical,
                        "occasion": _occasion(award, nouns),
                        "countryCode": award.country_code,
                        "transactionAt": award.transaction_at.isoformat(),
                        "entryId": award.entry_id,
                    },
                    award.user,
                )
                for award in posted
            ]
        )
        return len(posted)


def awards_pending_due(*, grace: timedelta, limit: int) -> list[int]:
    cutoff = timezone.now() - grace
    return list(
        Award.objects.filter(status=Award.Status.PENDING, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )


def award_direct(*, user: User, points: int, source: str, reference: str, transaction_at: datetime, note: str) -> Award:
    """Points given outright (a goodwill grant, demo history), through the same award queue."""
    award, created = Award.objects.get_or_create(
        source=source,
        reference=reference,
        defaults={
            "user": user,
            "points": points,
            "breakdown": {"formula": "fixed", "points": points, "note": note},
            "transaction_at": transaction_at,
        },
    )
    if created:
        transaction.on_commit(lambda: awards_enqueue(award_ids=[award.pk]))
    return award
