import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.events.channels import channel_get
from apps.events.models import Notification, NotificationTemplate
from apps.events.templating import TemplateRenderError, template_render
from config.json_rows import json_rows_insert

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"
TITLE_LIMIT = 200


def notification_template_pick(*, kind: str, language: str) -> NotificationTemplate | None:
    templates = {t.language: t for t in NotificationTemplate.objects.filter(kind=kind, is_active=True)}
    return _in_language(templates, language)


def _in_language(templates: dict[str, NotificationTemplate], language: str) -> NotificationTemplate | None:
    """The template in the user's language, else in the default one."""
    return templates.get(language) or templates.get(DEFAULT_LANGUAGE)


def notification_context(*, user, payload: dict) -> dict:
    context = {"username": user.username, "firstName": user.first_name or user.username}
    context.update({key: value for key, value in payload.items() if not isinstance(value, (dict, list))})
    return context


def _notifications_render(*, user, kind: str, payload: dict, template, source_message=None) -> list[Notification]:
    """The template rendered for the user and delivered on each of its channels (not saved).

    A template that cannot be rendered (missing variable) gives a failed notification with the
    reason, visible in the admin, instead of raising."""
    context = notification_context(user=user, payload=payload)
    rendered = []
    for channel_name in template.channels:
        notification = Notification(
            user=user,
            kind=kind,
            language=template.language,
            channel=channel_name,
            context=context,
            source_message=source_message,
        )
        try:
            # the title column holds 200 characters; a long variable must not lose the message
            notification.title = template_render(template.title, context)[:TITLE_LIMIT]
            notification.body = template_render(template.body, context)
            channel = channel_get(channel_name)
            if channel is None:
                raise LookupError(f"unknown channel '{channel_name}'")
            channel.deliver(notification)
            notification.status = Notification.Status.DELIVERED
        except (TemplateRenderError, LookupError) as exc:
            notification.status = Notification.Status.FAILED
            notification.error = str(exc)
            notification.title = notification.title or template.title
            logger.warning("notification %s for user %s failed: %s", kind, user.pk, exc)
        rendered.append(notification)
    return rendered


def notification_send(*, user, kind: str, payload: dict, source_message=None) -> list[Notification]:
    """Render the kind's template in the user's language and deliver it on each channel."""
    template = notification_template_pick(kind=kind, language=user.language or DEFAULT_LANGUAGE)
    if template is None:
        return []
    sent = []
    for notification in _notifications_render(
        user=user, kind=kind, payload=payload, template=template, source_message=source_message
    ):
        try:
            with transaction.atomic():
                notification.save()
        except IntegrityError:
            continue  # already sent for this message on this channel
        sent.append(notification)
    return sent


def notifications_for_message(*, message) -> list[Notification]:
    """The outbox consumer: a message about a user becomes their notification."""
    if message.user_id is None:
        return []
    return notification_send(user=message.user, kind=message.topic, payload=message.payload, source_message=message)


def notifications_for_messages(*, messages) -> None:
    """The same for a chunk of messages: the templates read once, the notifications written in
    one INSERT (one already sent for a message on a channel is skipped, as above)."""
    messages = [m for m in messages if m.user_id is not None]
    by_kind: dict[str, dict[str, NotificationTemplate]] = {}
    for template in NotificationTemplate.objects.filter(kind__in={m.topic for m in messages}, is_active=True):
        by_kind.setdefault(template.kind, {})[template.language] = template
    notifications = []
    for message in messages:
        template = _in_language(by_kind.get(message.topic, {}), message.user.language or DEFAULT_LANGUAGE)
        if template is not None:
            notifications += _notifications_render(
                user=message.user,
                kind=message.topic,
                payload=message.payload,
                template=template,
                source_message=message,
            )
    json_rows_insert(objs=notifications, ignore_conflicts=True)


def notifications_wanted(*, message) -> bool:
    return (
        message.user_id is not None and NotificationTemplate.objects.filter(kind=message.topic, is_active=True).exists()
    )


@transaction.atomic
def notification_mark_read(*, user, notification_id: int) -> Notification:
    notification = Notification.objects.select_for_update().get(pk=notification_id, user=user, channel="inbox")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, channel="inbox", read_at=None).update(read_at=timezone.now())
