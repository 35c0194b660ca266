"""Activity-based points expiry.

Every award moves a user's expiry date forward (see awards._activity_update). Once a month has
ended in a country's time zone, that country's run selects every user whose date has passed
and who still has available points, and the expiry queue expires each one's remaining balance
with one ledger entry (user -> points_expired), keyed per user and expiry date.

Exactly once: the entry's idempotency key is `points_expiry:<owner>:<date>` and the consumer
re-reads each user's date and balance under the same locks an award takes (the user's point
account, then the profile). A user who earned after the selection has a later date by then and
is skipped; a second run, or a concurrent one, finds nothing left to expire. Points that come
back after a date's expiry (see holds below) expire under `points_expiry:<owner>:<date>:<n>`.

Points reserved by a pending hold are not expired: only the available balance (posted minus
pending) goes. If the hold is later voided the points come back with the date still passed, and
the next monthly run expires them; if it is posted they were spent before they could expire.
"""

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.events.broker import tasks_publish
from apps.events.services.outbox import outbox_publish_many
from apps.identity.models import User
from apps.ledger.amounts import Amount, Ref
from apps.ledger.assets import asset_get
from apps.ledger.locks import owner_accounts_lock_existing
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import EntrySpec, Leg, entries_post_batch
from apps.points.models import Country, ExpiryRun, PointsExpiry, PointsProfile
from apps.points.services.awards import POINTS_ASSET
from config.errors import KhataError

logger = logging.getLogger(__name__)

POINTS_EXPIRED = "points_expired"
EXPIRY_KEY_TYPE = "points_expiry"
# Users per expiry-queue task: one ledger batch call and one transaction each.
EXPIRY_CHUNK = 1000
# Users warned per transaction.
NOTICE_CHUNK = 1000
# A finished selection is run once more after this, for chunks a lost message never delivered.
RECHECK_AFTER = timedelta(minutes=30)

# Users with a points profile, joined to their point account. The owner id is the ledger's
# name for the user (ledger.selectors.owner_ref_for_user).
HOLDERS_FROM = """
FROM points_pointsprofile p
JOIN identity_user u ON u.id = p.user_id
JOIN ledger_account a
  ON a.asset_id = %(asset)s AND a.system_name = '' AND a.owner_type = 'user'
 AND a.owner_id = COALESCE(NULLIF(u.external_id, ''), 'khata-' || u.id::text)
"""
# Users whose expiry date is before the run's day and who still have available points.
_DUE_SQL = (
    """
SELECT p.user_id, p.expires_at, a.posted - a.pending AS available"""
    + HOLDERS_FROM
    + """WHERE p.expires_at {date_test} AND a.posted - a.pending > 0
  AND (%(country)s::text IS NULL OR p.expiry_country = %(country)s)
  AND p.user_id > %(after)s {also}
ORDER BY p.user_id
LIMIT %(limit)s {lock}
"""
)
# Users of a country whose points expire within the warning horizon and who were not warned of
# this date yet, locked (a parallel sender skips them).
# (constant fragments; every value is a parameter)
_WARN_SQL = (
    "UPDATE points_pointsprofile p SET expiry_notice_for = d.expires_at FROM ("  # noqa: S608
    + _DUE_SQL.format(
        date_test="BETWEEN %(today)s AND %(horizon)s",
        also="AND p.expiry_notice_for IS DISTINCT FROM p.expires_at",
        lock="FOR UPDATE OF p SKIP LOCKED",
    )
    + ") d WHERE p.user_id = d.user_id RETURNING p.user_id, d.expires_at, d.available"
)


class _Expired(NamedTuple):
    user_id: int
    expiry_date: date
    sequence: int
    points: int
    country_code: str
    entry_id: int


@dataclass
class ExpiryTotals:
    users_expired: int = 0
    points_expired: int = 0

    def add(self, other: "ExpiryTotals") -> None:
        self.users_expired += other.users_expired
        self.points_expired += other.points_expired


def month_start_in(*, time_zone: str, now: datetime) -> date:
    """The first day of the current month in `time_zone`: the day a country's run is for."""
    return now.astimezone(ZoneInfo(time_zone)).date().replace(day=1)


def expiry_users_due(*, as_of: date, country_code: str | None, after: int, limit: int) -> list[int]:
    """Ids of users due to expire before `as_of`, in id order after `after`."""
    asset = asset_get(*POINTS_ASSET)
    params = {"asset": asset.pk, "country": country_code, "after": after, "limit": limit, "as_of": as_of}
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL.format(date_test="< %(as_of)s", also="", lock=""), params)
        return [row[0] for row in cursor.fetchall()]


def points_expire_users(*, user_ids: list[int], as_of: date, run_id: int | None = None) -> ExpiryTotals:
    """Expire the available balance of each of these users whose expiry date is still before
    `as_of`. Safe to repeat and to run concurrently: each (user, date) expires once."""
    totals = ExpiryTotals()
    with transaction.atomic():
        # Asynchronous commit: a crash may lose the last few chunks' commits (never part of one),
        # and those users are then still due: the run's second pass or the next run expires them.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        users = {u.pk: u for u in User.objects.filter(pk__in=user_ids).only("id", "external_id", "country")}
        if not users:
            return totals
        refs = {user_id: owner_ref_for_user(user) for user_id, user in users.items()}
        # the same order as an award: the point accounts first, then the profiles
        balances = owner_accounts_lock_existing(
            owner_type="user",
            owner_ids=[ref.value for ref in refs.values()],
            unit_type=POINTS_ASSET[0],
            unit_token=POINTS_ASSET[1],
        )
        available = {owner_id: posted - pending for owner_id, (posted, pending) in balances.items()}
        profiles = list(
            PointsProfile.objects.select_for_update()
            .filter(user_id__in=list(users), expires_at__lt=as_of)
            .order_by("user_id")
            .values_list("user_id", "expires_at", "expiry_country")
        )
        due = [
            (user_id, expires, country)
            for user_id, expires, country in profiles
            if available.get(refs[user_id].value, 0) > 0
        ]
        if not due:
            return totals
        # points back after this date's expiry (a voided hold) expire under the next sequence
        # number; read under the account locks, so parallel consumers agree on it
        earlier = {
            (user_id, day): last
            for user_id, day, last in PointsExpiry.objects.filter(user_id__in=[d[0] for d in due])
            .values("user_id", "expiry_date")
            .annotate(last=Max("sequence"))
            .values_list("user_id", "expiry_date", "last")
        }
        sequences = {user_id: earlier.get((user_id, expires), 0) + 1 for user_id, expires, _ in due}
        specs = [
            _expiry_entry(
                ref=refs[user_id],
                points=available[refs[user_id].value],
                expires=expires,
                as_of=as_of,
                sequence=sequences[user_id],
            )
            for user_id, expires, _ in due
        ]
        results = entries_post_batch(entries=specs)
        records = []
        for (user_id, expires, country), spec, result in zip(due, specs, results, strict=True):
            if isinstance(result, KhataError):
                # not expected (the user's account is locked and the key is fresh): logged for
                # staff, and the next run tries again
                logger.error("points expiry of user %s for %s refused: %s", user_id, expires, result)
                continue
            if result.replayed:
                continue
            records.append(
                _Expired(
                    user_id,
                    expires,
                    sequences[user_id],
                    -spec.legs[0].amount.unit_count,
                    country or users[user_id].country,
                    result.entry_id,
                )
            )
        with connection.cursor() as cursor:  # one INSERT from one JSON document: a chunk is hundreds of rows
            cursor.execute(
                "INSERT INTO points_pointsexpiry (user_id, expiry_date, sequence, points, country_code, entry_id,"
                " run_id, created_at) SELECT r.u, r.d, r.s, r.p, r.c, r.e, %s, now()"
                " FROM jsonb_to_recordset(%s::jsonb) AS r(u bigint, d date, s int, p bigint, c text, e bigint)",
                [
                    run_id,
                    json.dumps(
                        [
                            {
                                "u": r.user_id,
                                "d": r.expiry_date.isoformat(),
                                "s": r.sequence,
                                "p": r.points,
                                "c": r.country_code,
                                "e": r.entry_id,
                            }
                            for r in records
                        ]
                    ),
                ],
            )
        if not records:
            return totals
        # one stream message per chunk, not per user: a monthly run expires hundreds of
        # thousands of balances, and each message costs the stream a fan-out
        outbox_publish_many(
            messages=[
                (
                    "points.expired",
                    {
                        "asOf": as_of.isoformat(),
                        "runId": run_id,
                        "users": len(records),
                        "points": sum(record.points for record in records),
                        "expiries": [
                            {
                                "userId": users[record.user_id].external_id or str(record.user_id),
                                "points": record.points,
                                "expiryDate": record.expiry_date.isoformat(),
                                "countryCode": record.country_code,
                                "entryId": record.entry_id,
                            }
                            for record in records
                        ],
                    },
                    None,
                )
            ]
        )
        totals.users_expired = len(records)
        totals.points_expired = sum(record.points for record in records)
    return totals


def _expiry_entry(*, ref: Ref, points: int, expires: date, as_of: date, sequence: int) -> EntrySpec:
    day = expires.isoformat()
    key = f"{ref.value}:{day}" if sequence == 1 else f"{ref.value}:{day}:{sequence}"
    return EntrySpec(
        legs=(
            Leg(Amount(*POINTS_ASSET, -points), owner=ref),
            Leg(Amount(*POINTS_ASSET, points), system=POINTS_EXPIRED),
        ),
        actor=Ref("system", "points_expiry"),
        reason=Ref("points_expiry", day),
        idempotency_key=Ref(EXPIRY_KEY_TYPE, key),
        kind="points_expiry",
        metadata={"expiry_date": day, "as_of": as_of.isoformat()},
    )


def expiry_run_start(*, as_of: date, country: Country | None, trigger: str) -> ExpiryRun:
    if trigger == ExpiryRun.Trigger.SCHEDULE:
        run, _ = ExpiryRun.objects.get_or_create(country=country, as_of=as_of, trigger=trigger)
        return run
    return ExpiryRun.objects.create(country=country, as_of=as_of, trigger=trigger)


def expiry_run_select(*, run_id: int, chunk: int = EXPIRY_CHUNK) -> int:
    """Enqueue the run's due users for the expiry queue, a chunk per transaction, from the
    run's cursor: a selection cut off resumes where it stopped, and two selections of one run
    never take the same chunk. Returns how many users were enqueued."""
    from apps.points.tasks import points_expire_users_task

    enqueued = 0
    while True:
        with transaction.atomic():
            # NO KEY: expiry rows written meanwhile reference the run (a KEY SHARE lock)
            run = (
                ExpiryRun.objects.select_for_update(no_key=True, skip_locked=True).filter(pk=run_id).order_by().first()
            )
            if run is None or run.selected_at is not None:
                return enqueued
            country = run.country.code if run.country_id else None
            user_ids = expiry_users_due(as_of=run.as_of, country_code=country, after=run.selected_after, limit=chunk)
            if not user_ids:
                run.selected_at = timezone.now()
                run.save(update_fields=["selected_at"])
                return enqueued
            job = {"user_ids": user_ids, "as_of": run.as_of.isoformat(), "run_id": run.pk}
            if not tasks_publish(points_expire_users_task, [job]):
                return enqueued  # broker down: the next schedule tick resumes from the cursor
            run.selected_after = user_ids[-1]
            run.users_selected += len(user_ids)
            run.save(update_fields=["selected_after", "users_selected"])
            enqueued += len(user_ids)


def expiry_run_now(*, run: ExpiryRun, chunk: int = EXPIRY_CHUNK) -> ExpiryTotals:
    """The same selection, expired in this process chunk by chunk (the points_expire command)."""
    totals = ExpiryTotals()
    country = run.country.code if run.country_id else None
    after = 0
    while user_ids := expiry_users_due(as_of=run.as_of, country_code=country, after=after, limit=chunk):
        totals.add(points_expire_users(user_ids=user_ids, as_of=run.as_of, run_id=run.pk))
        after = user_ids[-1]
        run.users_selected += len(user_ids)
    run.selected_after, run.selected_at = after, timezone.now()
    run.save(update_fields=["selected_after", "users_selected", "selected_at"])
    return totals


def expiry_schedule_tick(*, now: datetime | None = None) -> list[int]:
    """What the hourly beat does: start each country's run once its month has ended (and
    resume one cut off, or re-check one a while after it finished), then warn users whose
    points expire soon. Returns the ids of the runs to select now."""
    now = now or timezone.now()
    to_select = []
    for country in Country.objects.all():
        run = expiry_run_start(
            as_of=month_start_in(time_zone=country.time_zone, now=now),
            country=country,
            trigger=ExpiryRun.Trigger.SCHEDULE,
        )
        if run.selected_at is None:
            to_select.append(run.pk)
        elif run.rechecked_at is None and run.selected_at <= now - RECHECK_AFTER:
            # a second pass from the start finds only users a lost chunk left behind
            ExpiryRun.objects.filter(pk=run.pk).update(selected_after=0, selected_at=None, rechecked_at=now)
            to_select.append(run.pk)
        expiry_notices_send(country=country, now=now)
    return to_select


def expiry_notices_send(*, country: Country, now: datetime | None = None, days: int | None = None) -> int:
    """Warn each user of `country` whose points expire within `days` (local time), once per
    expiry date: the date warned about is kept on the profile in the same transaction as the
    notification's outbox message, so a rerun finds nothing to send."""
    now = now or timezone.now()
    days = settings.POINTS_EXPIRY_NOTICE_DAYS if days is None else days
    today = now.astimezone(ZoneInfo(country.time_zone)).date()
    params = {
        "asset": asset_get(*POINTS_ASSET).pk,
        "country": country.code,
        "after": 0,
        "limit": NOTICE_CHUNK,
        "today": today,
        "horizon": today + timedelta(days=days),
    }
    sent = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_WARN_SQL, params)
                rows = cursor.fetchall()
            if not rows:
                return sent
            users = User.objects.in_bulk([row[0] for row in rows])
            outbox_publish_many(
                messages=[
                    (
                        "points.expiring",
                        {
                            "userId": users[user_id].external_id or str(user_id),
                            "points": points,
                            "expiresAt": expires.isoformat(),
                            "countryCode": country.code,
                        },
                        users[user_id],
                    )
                    for user_id, expires, points in rows
                ]
            )
            sent += len(rows)
