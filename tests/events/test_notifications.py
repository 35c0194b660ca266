import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.events.models import Notification, NotificationTemplate
from apps.events.services.notifications import notification_send
from apps.events.services.outbox import outbox_publish
from apps.events.templating import TemplateRenderError, template_render
from tests.factories.identity import UserFactory

pytestmark = pytest.mark.django_db


def _template(kind="sample.awarded", language="en", body="You earned {points} points for your {vertical} order"):
    return NotificationTemplate.objects.create(
        kind=kind, language=language, title="Points!", body=body, channels=["inbox"]
    )


def test_template_fills_variables_and_refuses_attribute_access():
    assert template_render("You earned {points} points", {"points": 180}) == "You earned 180 points"
    with pytest.raises(TemplateRenderError, match="Missing variable"):
        template_render("You earned {points} points", {})
    for unsafe in ("{user.__class__}", "{points[0]}", "{points!r}", "{points:>10}"):
        with pytest.raises(TemplateRenderError):
            template_render(unsafe, {"points": 1, "user": object()})


def test_admin_validation_refuses_unsafe_templates_and_unknown_channels():
    template = NotificationTemplate(kind="k", language="en", title="{a.b}", body="ok", channels=["pigeon"])

    with pytest.raises(ValidationError) as error:
        template.full_clean()

    assert set(error.value.message_dict) == {"title", "channels"}


def test_outbox_message_about_a_user_becomes_their_notification_once(django_capture_on_commit_callbacks):
    _template()
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox_publish(topic="sample.awarded", payload={"points": 180, "vertical": "food"}, user=user)

    notification = Notification.objects.get(user=user)
    assert notification.body == "You earned 180 points for your food order"
    assert notification.source_message == message
    # a second send for the same message does not notify twice
    assert notification_send(user=user, kind="sample.awarded", payload=message.payload, source_message=message) == []
    assert Notification.objects.filter(user=user).count() == 1


def test_user_language_is_used_with_english_fallback():
    _template(body="English {points}")
    _template(language="id", body="Kamu dapat {points} poin")
    indonesian = UserFactory(language="id")
    german = UserFactory(language="de")

    notification_send(user=indonesian, kind="sample.awarded", payload={"points": 60})
    notification_send(user=german, kind="sample.awarded", payload={"points": 60})

    assert Notification.objects.get(user=indonesian).body == "Kamu dapat 60 poin"
    assert Notification.objects.get(user=german).body == "English 60"


def test_missing_variable_leaves_a_failed_notification_with_the_reason():
    _template()
    user = UserFactory()

    notification_send(user=user, kind="sample.awarded", payload={"points": 5})

    notification = Notification.objects.get(user=user)
    assert notification.status == Notification.Status.FAILED
    assert "vertical" in notification.error


def test_inbox_lists_my_notifications_paginated_and_marks_them_read(user_api):
    _template()
    user, client = user_api()
    other = UserFactory()
    for points in range(3):
        notification_send(user=user, kind="sample.awarded", payload={"points": points, "vertical": "food"})
    notification_send(user=other, kind="sample.awarded", payload={"points": 99, "vertical": "mart"})

    listing = client.get("/api/v1/me/notifications").json()
    assert listing["count"] == 3
    assert [n["body"] for n in listing["results"]][0] == "You earned 2 points for your food order"
    assert all(n["isRead"] is False for n in listing["results"])

    first_id = listing["results"][0]["id"]
    marked = client.post(f"/api/v1/me/notifications/{first_id}/read")
    assert marked.status_code == 200 and marked.json()["isRead"] is True
    assert client.get("/api/v1/me/notifications?unread=true").json()["count"] == 2

    assert client.post("/api/v1/me/notifications/read-all").json() == {"marked": 2}
    assert client.get("/api/v1/me/notifications?unread=true").json()["count"] == 0


def test_cannot_read_someone_elses_notification(user_api):
    _template()
    other = UserFactory()
    notification_send(user=other, kind="sample.awarded", payload={"points": 1, "vertical": "food"})
    _, client = user_api()

    response = client.post(f"/api/v1/me/notifications/{Notification.objects.get().pk}/read")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Notification.objects.get().read_at is None


def test_notifications_need_a_signed_in_user(api):
    response = api.get("/api/v1/me/notifications")

    assert response.status_code == 401


def test_deleting_a_message_or_a_user_still_applies_on_delete_without_database_constraints(
    django_capture_on_commit_callbacks,
):
    from django.db.models import ProtectedError

    from apps.events.models import DeliveryAttempt, OutboxDelivery, OutboxMessage

    _template()
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox_publish(topic="sample.awarded", payload={"points": 180, "vertical": "food"}, user=user)
    delivery = OutboxDelivery.objects.get(message=message)
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1

    # a user that a message is about cannot be deleted (PROTECT)...
    with pytest.raises(ProtectedError):
        user.delete()
    # ...a deleted message takes its deliveries and their attempts along; its notification stays
    message.delete()
    assert not OutboxDelivery.objects.filter(pk=delivery.pk).exists()
    assert not DeliveryAttempt.objects.filter(delivery_id=delivery.pk).exists()
    assert Notification.objects.get(user=user).source_message is None
    # ...and a user without messages takes their notifications along (CASCADE)
    assert OutboxMessage.objects.filter(user=user).count() == 0
    user.delete()
    assert not Notification.objects.filter(user_id=user.pk).exists()
