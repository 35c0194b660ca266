from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from apps.events.models import InboundEvent
from apps.events.retry_policy import INBOUND_MAX_ATTEMPTS, backoff_delay
from apps.events.tasks import inbound_events_dispatch_task, inbound_events_sweep_task
from apps.identity.models import User
from tests.events.conftest import make_due
from tests.factories.events import event_envelope
from tests.factories.identity import StaffFactory

URL = "/api/v1/events"
pytestmark = pytest.mark.django_db


def _accept(svc, envelope, capture) -> InboundEvent:
    with capture(execute=True):
        body = svc.post(URL, {"events": [envelope]}, format="json").json()
    assert body["accepted"] == 1, body
    return InboundEvent.objects.get(event_id=envelope["eventId"])


def test_backoff_doubles_and_is_capped():
    assert [backoff_delay(n) for n in range(1, 5)] == [10, 20, 40, 80]
    assert backoff_delay(50) == 30 * 60


def test_failing_handler_is_retried_with_backoff_and_its_writes_rolled_back(
    service_api, flaky_event_type, django_capture_on_commit_callbacks
):
    flaky_event_type.failures = 1
    before = timezone.now()

    event = _accept(
        service_api(), event_envelope(type="test.flaky", payload={"ref": "r1"}), django_capture_on_commit_callbacks
    )

    assert event.status == InboundEvent.Status.PENDING
    assert event.attempts == 1
    assert "downstream unavailable" in event.last_error
    assert event.next_attempt_at >= before + timedelta(seconds=backoff_delay(1))
    assert not User.objects.filter(username__startswith="side-effect-").exists()

    # when the retry comes due, it succeeds and its write is kept
    make_due(event)
    assert inbound_events_dispatch_task([event.pk]) == ["processed"]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEvent.Status.PROCESSED, 2)
    assert User.objects.filter(username__startswith="side-effect-").count() == 1


def test_retry_that_arrives_early_does_nothing(service_api, flaky_event_type, django_capture_on_commit_callbacks):
    flaky_event_type.failures = 1
    event = _accept(
        service_api(), event_envelope(type="test.flaky", payload={"ref": "r1"}), django_capture_on_commit_callbacks
    )

    assert inbound_events_dispatch_task([event.pk]) == ["skipped"]
    assert flaky_event_type.calls == 1


def test_processed_event_is_never_processed_twice(service_api, flaky_event_type, django_capture_on_commit_callbacks):
    event = _accept(
        service_api(), event_envelope(type="test.flaky", payload={"ref": "r1"}), django_capture_on_commit_callbacks
    )
    assert InboundEvent.objects.get(pk=event.pk).status == InboundEvent.Status.PROCESSED

    assert inbound_events_dispatch_task([event.pk]) == ["skipped"]
    assert flaky_event_type.calls == 1


def test_event_fails_after_max_attempts_then_support_replays_it_from_the_admin(
    service_api, flaky_event_type, django_capture_on_commit_callbacks
):
    flaky_event_type.failures = INBOUND_MAX_ATTEMPTS
    event = _accept(
        service_api(), event_envelope(type="test.flaky", payload={"ref": "r1"}), django_capture_on_commit_callbacks
    )
    for _ in range(INBOUND_MAX_ATTEMPTS - 1):
        make_due(event)
        inbound_events_dispatch_task([event.pk])
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FAILED
    assert event.attempts == INBOUND_MAX_ATTEMPTS
    assert event.failed_at is not None

    # the failed event is listed in the admin, and Support replays it
    support = StaffFactory(username="support-agent")
    support.groups.add(Group.objects.get(name="Support"))
    admin = Client()
    admin.force_login(support)
    listing = admin.get("/admin/events/inboundevent/?status__exact=failed")
    assert event.event_id in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/admin/events/inboundevent/", {"action": "replay", "_selected_action": [event.pk]})

    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.replay_count == 1
    assert event.last_replayed_by == support
    assert User.objects.filter(username__startswith="side-effect-").count() == 1


def test_sweeper_dispatches_an_event_accepted_while_the_broker_was_down(
    service_api, flaky_event_type, broker_unreachable, django_capture_on_commit_callbacks
):
    svc = service_api()
    envelope = event_envelope(type="test.flaky", payload={"ref": "r1"})

    # given the broker is down when the event arrives: it is still accepted and stored
    with django_capture_on_commit_callbacks(execute=True):
        response = svc.post(URL, {"events": [envelope]}, format="json")
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "accepted"
    event = InboundEvent.objects.get(event_id=envelope["eventId"])
    assert event.status == InboundEvent.Status.PENDING
    assert flaky_event_type.calls == 0

    # when the broker is back and a minute has passed, the sweeper dispatches it
    from config.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    make_due(event, seconds_ago=61)
    assert inbound_events_sweep_task() == 1
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert flaky_event_type.calls == 1


@pytest.mark.usefixtures("flaky_event_type")
def test_sweeper_picks_up_only_events_pending_for_over_a_minute(
    service_api, broker_unreachable, django_capture_on_commit_callbacks
):
    from config.celery import app as celery_app

    with django_capture_on_commit_callbacks(execute=True):
        service_api().post(
            URL,
            {
                "events": [
                    event_envelope(type="test.flaky", payload={"ref": "old"}, event_id="old"),
                    event_envelope(type="test.flaky", payload={"ref": "new"}, event_id="new"),
                ]
            },
            format="json",
        )
    old = InboundEvent.objects.get(event_id="old")
    make_due(old, seconds_ago=61)

    # when the broker is back and the sweeper runs
    celery_app.conf.task_always_eager = True
    swept = inbound_events_sweep_task()

    assert swept == 1
    assert InboundEvent.objects.get(event_id="old").status == InboundEvent.Status.PROCESSED
    assert InboundEvent.objects.get(event_id="new").status == InboundEvent.Status.PENDING
