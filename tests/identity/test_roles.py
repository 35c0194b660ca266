"""Each staff role can do its job in the back office, and not more."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from apps.events.models import InboundEvent, NotificationTemplate
from apps.identity.models import User
from tests.factories.identity import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

TEMPLATE_ADD = "/admin/events/notificationtemplate/add/"
EVENTS_LIST = "/admin/events/inboundevent/"
USERS_LIST = "/admin/identity/user/"


def _staff(role: str) -> Client:
    user = StaffFactory(username=f"{role.lower()}-person")
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def _failed_event() -> InboundEvent:
    return InboundEvent.objects.create(
        event_id="evt-failed-1",
        type="user.upserted",
        occurred_at=timezone.now(),
        payload={"userId": "z1"},
        batch_token="00000000-0000-0000-0000-000000000001",
        status=InboundEvent.Status.FAILED,
        attempts=5,
        last_error="boom",
    )


def _template_form(kind: str) -> dict:
    return {
        "kind": kind,
        "language": "en",
        "title": "Hi",
        "body": "You earned {points} points",
        "channels": ["inbox"],
        "is_active": "on",
    }


def test_roles_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Marketing", "Finance", "Support"}


def test_admin_is_titled_khata_back_office():
    client = _staff("Support")

    response = client.get("/admin/")

    assert response.status_code == 200
    assert "Khata back office" in response.content.decode()


def test_marketing_creates_notification_templates_but_sees_no_events_or_users():
    client = _staff("Marketing")

    assert client.get(TEMPLATE_ADD).status_code == 200
    response = client.post(TEMPLATE_ADD, _template_form("offer.granted"))
    assert response.status_code == 302
    assert NotificationTemplate.objects.filter(kind="offer.granted").exists()

    template = NotificationTemplate.objects.get(kind="offer.granted")
    assert client.get(f"/admin/events/notificationtemplate/{template.pk}/delete/").status_code == 403
    assert client.get(EVENTS_LIST).status_code == 403
    assert client.get(USERS_LIST).status_code == 403


def test_finance_views_and_exports_but_changes_nothing():
    event = _failed_event()
    client = _staff("Finance")

    assert client.get(EVENTS_LIST).status_code == 200
    assert client.get(USERS_LIST).status_code == 200
    assert client.get(TEMPLATE_ADD).status_code == 403

    export = client.post(EVENTS_LIST, {"action": "export_csv", "_selected_action": [event.pk]})
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv"
    body = b"".join(export.streaming_content).decode()
    assert "evt-failed-1" in body

    client.post(EVENTS_LIST, {"action": "replay", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FAILED


def test_finance_export_leaves_out_password_hashes():
    UserFactory(username="someone")
    client = _staff("Finance")
    user_ids = list(User.objects.values_list("pk", flat=True))

    export = client.post(USERS_LIST, {"action": "export_csv", "_selected_action": user_ids})

    body = b"".join(export.streaming_content).decode()
    assert "someone" in body
    assert "password" not in body.splitlines()[0]
    assert "pbkdf2" not in body and "md5$" not in body


def test_support_views_users_and_events_and_replays_failed_events():
    event = _failed_event()
    client = _staff("Support")

    assert client.get(USERS_LIST).status_code == 200
    assert client.get(EVENTS_LIST).status_code == 200

    response = client.post(EVENTS_LIST, {"action": "replay", "_selected_action": [event.pk]})

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.replay_count == 1
    assert event.last_replayed_by.username == "support-person"


def test_support_cannot_change_users_export_or_edit_templates():
    user = UserFactory()
    client = _staff("Support")

    assert client.post(f"/admin/identity/user/{user.pk}/change/", {"username": "renamed"}).status_code == 403
    assert client.get(TEMPLATE_ADD).status_code == 403
    export = client.post(USERS_LIST, {"action": "export_csv", "_selected_action": [user.pk]})
    assert export.get("Content-Type") != "text/csv"


def test_a_view_only_role_cannot_revert_history_to_raise_its_own_rights():
    # given a support user whose own user row has history
    client = _staff("Support")
    support = User.objects.get(username="support-person")
    version = support.history.first()
    url = f"/admin/identity/user/{support.pk}/history/{version.history_id}/"

    # when they post a "revert" that makes them a superuser
    response = client.post(url, {"username": support.username, "is_superuser": "on", "is_staff": "on"})

    # then it is refused and nothing changed
    assert response.status_code == 403
    support.refresh_from_db()
    assert not support.is_superuser
