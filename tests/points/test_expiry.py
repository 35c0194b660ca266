"""Activity-based expiry: the dates, the monthly run (twice, concurrently, with a user earning
during it), held points, the warning sent once, and the command."""

from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.events.models import Notification, OutboxMessage
from apps.identity.services import user_token_issue
from apps.ledger.amounts import Amount, Ref
from apps.ledger.models import Entry
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import hold_create, hold_void
from apps.ledger.verify import ledger_verify
from apps.points.handlers import country_cache_clear
from apps.points.models import ExpiryRun, PointsExpiry, PointsProfile
from apps.points.months import expiry_date
from apps.points.selectors import points_balance
from apps.points.services import award_direct, awards_post
from apps.points.services.expiry import (
    expiry_notices_send,
    expiry_schedule_tick,
    expiry_users_due,
    points_expire_users,
)
from tests.factories.parallel import in_parallel
from tests.factories.points import points_world, user_in_tier


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def _earn(user, points: int, at: datetime, reference: str) -> None:
    with transaction.atomic():
        award = award_direct(user=user, points=points, source="test", reference=reference, transaction_at=at, note="")
    awards_post(award_ids=[award.pk])


def _profile(user) -> PointsProfile:
    return PointsProfile.objects.get(user=user)


def _expire(as_of: str) -> tuple[int, int]:
    out = _command_output(as_of)
    values = dict(line.split(": ") for line in out.strip().splitlines())
    return int(values["users_expired"]), int(values["points_expired"])


def _command_output(as_of: str, *extra) -> str:
    from io import StringIO

    buffer = StringIO()
    call_command("points_expire", "--as-of", as_of, *extra, stdout=buffer)
    return buffer.getvalue()


@pytest.fixture
def countries(db):
    country_cache_clear()
    points_world()  # SG: 6 months, Asia/Singapore; ID: 3 months, Asia/Jakarta
    yield
    country_cache_clear()


# --- the dates ---


@pytest.mark.parametrize(
    ("at", "zone", "months", "expected"),
    [
        ("2026-01-10T04:00:00", "Asia/Singapore", 6, date(2026, 7, 31)),  # the seed's example
        ("2026-02-28T04:00:00", "Asia/Singapore", 6, date(2026, 8, 31)),  # ... and its second one
        ("2026-08-31T04:00:00", "Asia/Singapore", 6, date(2027, 2, 28)),  # into a short February
        ("2027-08-15T04:00:00", "Asia/Singapore", 6, date(2028, 2, 29)),  # a leap year's February
        ("2026-11-30T04:00:00", "Asia/Jakarta", 3, date(2027, 2, 28)),  # across the year end
        ("2026-12-31T04:00:00", "Asia/Jakarta", 3, date(2027, 3, 31)),
        # 20:00 UTC on 31 January is already 1 February in Singapore, still January in UTC
        ("2026-01-31T20:00:00", "Asia/Singapore", 6, date(2026, 8, 31)),
        ("2026-01-31T20:00:00", "UTC", 6, date(2026, 7, 31)),
    ],
)
def test_expiry_date_is_the_last_day_of_the_nth_month_after_the_transaction(at, zone, months, expected):
    assert expiry_date(at=_at(at), time_zone=zone, months=months) == expected


def test_each_award_moves_the_date_forward_and_a_late_older_one_never_back(countries):
    user = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(user, 10, _at("2026-01-10T04:00:00"), "jan")
    assert _profile(user).expires_at == date(2026, 7, 31)
    _earn(user, 10, _at("2026-02-28T04:00:00"), "feb")
    assert _profile(user).expires_at == date(2026, 8, 31)
    # an event from early January arrives late
    _earn(user, 10, _at("2026-01-02T04:00:00"), "late")
    profile = _profile(user)
    assert profile.expires_at == date(2026, 8, 31)
    assert profile.expiry_country == "SG"


# --- the run ---


def test_the_command_expires_the_remaining_balance_once_with_one_entry_per_user(countries):
    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 700, _at("2026-01-10T04:00:00"), "a1")  # expires 31 July 2026
    bea = user_in_tier(external_id="bea", country="ID", points=0)
    _earn(bea, 300, _at("2026-03-10T04:00:00"), "b1")  # expires 30 June 2026
    cal = user_in_tier(external_id="cal", country="SG", points=0)
    _earn(cal, 50, _at("2026-05-10T04:00:00"), "c1")  # expires 30 November 2026: not yet

    assert _expire("2026-08-01") == (2, 1000)

    assert points_balance(user=ann) == 0 and points_balance(user=bea) == 0
    assert points_balance(user=cal) == 50
    entry = Entry.objects.get(idempotency_type="points_expiry", idempotency_token="ann:2026-07-31")
    assert (entry.reason_type, entry.reason_token) == ("points_expiry", "2026-07-31")
    postings = {(p.account.system_name or p.account.owner_id): p.amount for p in entry.postings.all()}
    assert postings == {"ann": -700, "points_expired": 700}
    assert set(PointsExpiry.objects.values_list("user__external_id", "expiry_date", "points")) == {
        ("ann", date(2026, 7, 31), 700),
        ("bea", date(2026, 6, 30), 300),
    }
    # the stream hears of the chunk in one message
    message = OutboxMessage.objects.get(topic="points.expired")
    assert (message.payload["users"], message.payload["points"]) == (2, 1000)
    assert {(e["userId"], e["points"], e["expiryDate"]) for e in message.payload["expiries"]} == {
        ("ann", 700, "2026-07-31"),
        ("bea", 300, "2026-06-30"),
    }
    # run again: nothing more
    assert _expire("2026-08-01") == (0, 0)
    assert OutboxMessage.objects.filter(topic="points.expired").count() == 1
    assert Entry.objects.filter(idempotency_type="points_expiry").count() == 2
    assert ledger_verify().ok


def test_the_command_refuses_a_bad_date_and_an_unknown_country(countries):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        _command_output("2026-13-01")
    with pytest.raises(CommandError, match="Unknown country 'XX'"):
        _command_output("2026-08-01", "--country", "XX")


def test_a_user_who_earns_after_the_selection_is_not_expired(countries):
    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 700, _at("2026-01-10T04:00:00"), "a1")
    selected = expiry_users_due(as_of=date(2026, 8, 1), country_code="SG", after=0, limit=100)
    assert selected == [ann.pk]

    # given ann orders again before the expiry queue reaches her chunk
    _earn(ann, 20, timezone.now(), "a2")
    totals = points_expire_users(user_ids=selected, as_of=date(2026, 8, 1))

    assert totals.users_expired == 0
    assert points_balance(user=ann) == 720
    assert not Entry.objects.filter(idempotency_type="points_expiry").exists()


@pytest.mark.django_db(transaction=True)
def test_the_run_from_four_connections_at_once_expires_each_user_once():
    country_cache_clear()
    points_world()
    users = [user_in_tier(external_id=f"x-{n}", country="SG", points=0) for n in range(40)]
    for n, user in enumerate(users):
        _earn(user, 100 + n, _at("2026-01-10T04:00:00"), f"x-{n}")
    ids = [u.pk for u in users]
    totals = in_parallel(4, lambda n: points_expire_users(user_ids=ids if n % 2 else ids[::-1], as_of=date(2026, 8, 1)))

    assert [t for t in totals if isinstance(t, Exception)] == []
    assert sum(t.users_expired for t in totals) == 40
    assert sum(t.points_expired for t in totals) == sum(100 + n for n in range(40))
    assert Entry.objects.filter(idempotency_type="points_expiry").count() == 40
    assert PointsExpiry.objects.count() == 40
    assert ledger_verify().ok
    country_cache_clear()


def test_held_points_stay_reserved_and_expire_in_a_later_run_if_the_hold_is_voided(countries):
    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 1000, _at("2026-01-10T04:00:00"), "a1")
    hold, _ = hold_create(
        owner=owner_ref_for_user(ann),
        actor=Ref("user", "ann"),
        amount=Amount("points", "GRP", 300),
        reason=Ref("reward", "mug"),
        idempotency_key=Ref("test_hold", "ann-1"),
    )

    # the held 300 are not expired: they are on their way to a redemption
    assert _expire("2026-08-01") == (1, 700)
    assert points_balance(user=ann) == 0

    # the redemption falls through: the points come back with the date passed, and go next time
    hold_void(hold_id=hold.pk, actor=Ref("system", "test"))
    assert points_balance(user=ann) == 300
    assert _expire("2026-09-01") == (1, 300)
    assert Entry.objects.filter(idempotency_type="points_expiry", idempotency_token="ann:2026-07-31:2").exists()
    assert points_balance(user=ann) == 0
    assert ledger_verify().ok


def test_the_hourly_tick_starts_each_country_run_when_its_month_ends_there(countries):
    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 500, _at("2026-03-15T04:00:00"), "a1")  # expires 30 September 2026 (Singapore)
    assert _profile(ann).expires_at == date(2026, 9, 30)

    # 23:30 on 30 September in Singapore: the month has not ended there yet
    expiry_schedule_tick(now=_at("2026-09-30T15:30:00"))
    assert points_balance(user=ann) == 500

    # 00:30 on 1 October in Singapore (the selection and the consumers run eagerly here)
    from apps.points.tasks import points_expiry_select_task

    for run_id in expiry_schedule_tick(now=_at("2026-09-30T16:30:00")):
        points_expiry_select_task(run_id)
    assert points_balance(user=ann) == 0
    run = ExpiryRun.objects.get(country__code="SG", as_of=date(2026, 10, 1))
    assert run.users_selected == 1 and run.selected_at is not None
    assert PointsExpiry.objects.get(user=ann).run == run

    # the next tick the same month starts nothing new
    assert run.pk not in expiry_schedule_tick(now=_at("2026-09-30T17:30:00"))
    assert ExpiryRun.objects.filter(country__code="SG", as_of=date(2026, 10, 1)).count() == 1
    assert ledger_verify().ok


# --- the warning ---


def test_users_are_warned_once_per_expiry_date(countries):
    from apps.points.models import Country

    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 400, _at("2026-03-15T04:00:00"), "a1")  # expires 30 September 2026
    bea = user_in_tier(external_id="bea", country="SG", points=0)
    _earn(bea, 400, _at("2026-05-15T04:00:00"), "b1")  # expires 30 November 2026: not soon
    sg = Country.objects.get(code="SG")

    with transaction.atomic():
        sent = expiry_notices_send(country=sg, now=_at("2026-09-20T02:00:00"), days=14)
    again = expiry_notices_send(country=sg, now=_at("2026-09-21T02:00:00"), days=14)

    assert (sent, again) == (1, 0)
    message = OutboxMessage.objects.get(topic="points.expiring")
    assert message.user == ann
    assert message.payload["points"] == 400 and message.payload["expiresAt"] == "2026-09-30"
    assert _profile(ann).expiry_notice_for == date(2026, 9, 30)


def test_the_warning_becomes_an_inbox_notification(countries, django_capture_on_commit_callbacks):
    from apps.points.models import Country

    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 400, _at("2026-03-15T04:00:00"), "a1")
    with django_capture_on_commit_callbacks(execute=True):
        expiry_notices_send(country=Country.objects.get(code="SG"), now=_at("2026-09-20T02:00:00"), days=14)
    notification = Notification.objects.get(user=ann, kind="points.expiring")
    assert "400 points expire on 2026-09-30" in notification.body


def test_me_points_shows_the_expiry_date_and_the_points_expiring(countries):
    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 400, _at("2026-03-15T04:00:00"), "a1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_token_issue(user=ann)}")
    body = client.get("/api/v1/me/points").json()
    assert body["expiresAt"] == "2026-09-30"
    assert body["expiringPoints"] == 400


# --- the back office ---


def test_the_reports_page_shows_the_forecast_daily_flows_stock_and_pending_exchanges(countries):
    from tests.factories.identity import staff_client

    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 400, timezone.now(), "a1")  # expires at the end of the sixth month from now
    expiring = _profile(ann).expires_at

    for role in ("Finance", "Support", "Marketing"):
        page = staff_client(role).get("/admin/points/expiryrun/reports/")
        assert page.status_code == 200, role
        html = page.content.decode()
        assert "Expiry forecast" in html and "Catalogue stock" in html and "Exchanges waiting on a partner" in html
        assert "<svg" in html
        assert f'{expiring:%B %Y}</td><td class="num">1</td><td class="num">400</td>' in html
        assert "SG: 400 issued, 0 expired, 0 redeemed" in html


def test_staff_see_expiry_runs_and_expired_balances_read_only(countries):
    from tests.factories.identity import staff_client

    ann = user_in_tier(external_id="ann", country="SG", points=0)
    _earn(ann, 700, _at("2026-01-10T04:00:00"), "a1")
    _expire("2026-08-01")
    client = staff_client("Support")
    runs = client.get("/admin/points/expiryrun/")
    assert runs.status_code == 200 and "Points reports" in runs.content.decode()
    expiries = client.get("/admin/points/pointsexpiry/")
    assert expiries.status_code == 200 and "ann" in expiries.content.decode()
    record = PointsExpiry.objects.get(user=ann)
    assert client.post(f"/admin/points/pointsexpiry/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PointsExpiry.objects.filter(pk=record.pk).exists()
