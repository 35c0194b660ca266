import threading

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from apps.events.models import InboundEvent, Notification, NotificationTemplate, OutboxMessage
from apps.identity.models import User
from apps.identity.services import api_client_create
from tests.factories.events import event_envelope

URL = "/api/v1/events"


@pytest.fixture
def svc(service_api):
    return service_api()


@pytest.mark.django_db
def test_batch_reports_accepted_duplicate_unknown_type_and_invalid_payload(svc):
    seen_before = event_envelope(event_id="evt-seen")
    assert svc.post(URL, {"events": [seen_before]}, format="json").json()["accepted"] == 1
    good = event_envelope(event_id="evt-good")
    batch = [
        good,
        event_envelope(event_id="evt-good"),  # repeated inside the batch
        seen_before,  # sent in an earlier batch
        event_envelope(event_id="evt-unknown", type="no.such.type"),
        event_envelope(event_id="evt-bad", payload={"country": "Singapore"}),  # no userId, bad country
    ]

    response = svc.post(URL, {"events": batch}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 2, 2)
    statuses = [(r["eventId"], r["status"]) for r in body["results"]]
    assert statuses == [
        ("evt-good", "accepted"),
        ("evt-good", "duplicate"),
        ("evt-seen", "duplicate"),
        ("evt-unknown", "rejected"),
        ("evt-bad", "rejected"),
    ]
    unknown, bad = body["results"][3]["reason"], body["results"][4]["reason"]
    assert unknown["code"] == "unknown_type"
    assert bad["code"] == "invalid_payload"
    assert set(bad["fields"]["payload"]) == {"userId", "country"}
    assert set(InboundEvent.objects.values_list("event_id", flat=True)) == {"evt-seen", "evt-good"}


@pytest.mark.django_db
def test_accepted_event_keeps_payload_exactly_as_sent(svc):
    envelope = event_envelope(event_id="evt-raw", payload={"userId": "raw-1", "firstName": "Ana"})

    svc.post(URL, {"events": [envelope]}, format="json")

    event = InboundEvent.objects.get(event_id="evt-raw")
    assert event.payload == {"userId": "raw-1", "firstName": "Ana"}
    assert event.status == InboundEvent.Status.PENDING


@pytest.mark.django_db
def test_envelope_errors_name_the_field(svc):
    response = svc.post(URL, {"events": [{"eventId": "x1", "type": "user.upserted", "payload": {}}]}, format="json")

    reason = response.json()["results"][0]["reason"]
    assert reason["code"] == "invalid_envelope"
    assert "occurredAt" in reason["fields"]


@pytest.mark.django_db
@override_settings(EVENTS_MAX_BATCH=5)
def test_oversize_batch_is_refused_whole(svc):
    response = svc.post(URL, {"events": [event_envelope() for _ in range(6)]}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "events" in error["fields"]
    assert "At most 5" in error["message"]
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_batch_of_1001_refused_by_default(svc):
    response = svc.post(URL, {"events": [event_envelope() for _ in range(1001)]}, format="json")

    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_body_over_the_size_limit_is_413(svc):
    response = svc.post(
        URL, {"events": [event_envelope(payload={"userId": "u", "firstName": "x" * 20_000})]}, format="json"
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [("{not json", "application/json"), ('{"events": "nope"}', "application/json"), ("[]", "application/json")],
)
def test_malformed_bodies_are_4xx_with_the_error_shape(svc, body, content_type):
    response = svc.post(URL, body, content_type=content_type)

    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_accepted_user_event_creates_the_user_and_welcomes_them(svc, django_capture_on_commit_callbacks):
    NotificationTemplate.objects.create(
        kind="user.created", language="en", title="Welcome", body="Hi {firstName}!", channels=["inbox"]
    )

    with django_capture_on_commit_callbacks(execute=True):
        svc.post(
            URL,
            {"events": [event_envelope(payload={"userId": "new-1", "country": "ID", "firstName": "Ana"})]},
            format="json",
        )

    user = User.objects.get(external_id="new-1")
    assert user.country == "ID"
    assert InboundEvent.objects.get().status == InboundEvent.Status.PROCESSED
    assert OutboxMessage.objects.get().topic == "user.created"
    notification = Notification.objects.get(user=user)
    assert notification.body == "Hi Ana!"
    assert notification.status == Notification.Status.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_the_same_event_id_accept_it_once():
    _, key = api_client_create(name="svc", scopes=["events:write"])
    envelope = event_envelope(event_id="evt-race")
    barrier = threading.Barrier(4)
    statuses = []

    def send():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
            barrier.wait()
            statuses.append(client.post(URL, {"events": [envelope]}, format="json").json()["results"][0]["status"])
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == ["accepted", "duplicate", "duplicate", "duplicate"]
    assert InboundEvent.objects.filter(event_id="evt-race").count() == 1


@pytest.mark.django_db
def test_every_event_of_a_large_batch_is_dispatched(svc, django_capture_on_commit_callbacks):
    events = [event_envelope(payload={"userId": f"bulk-{n}"}) for n in range(250)]

    with django_capture_on_commit_callbacks(execute=True):
        assert svc.post(URL, {"events": events}, format="json").json()["accepted"] == 250

    assert InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED).count() == 250
    assert User.objects.filter(external_id__startswith="bulk-").count() == 250


@pytest.mark.django_db
def test_an_older_user_event_arriving_late_does_not_overwrite_newer_data(svc, django_capture_on_commit_callbacks):
    newer = event_envelope(payload={"userId": "late-1", "country": "SG", "firstName": "New"})
    older = event_envelope(payload={"userId": "late-1", "country": "ID", "firstName": "Old"})
    older["occurredAt"] = "2020-01-01T00:00:00Z"

    with django_capture_on_commit_callbacks(execute=True):
        svc.post(URL, {"events": [newer]}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        svc.post(URL, {"events": [older]}, format="json")

    user = User.objects.get(external_id="late-1")
    assert (user.country, user.first_name) == ("SG", "New")
    assert InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED).count() == 2
