"""Notification channels: small classes behind one interface, chosen by a stored name."""

from typing import Protocol

from django.utils import timezone


class Channel(Protocol):
    name: str

    def deliver(self, notification) -> None:
        """Deliver or raise; the caller records the outcome."""


class InboxChannel:
    """The in-app inbox: stored is delivered; the user reads it at /api/v1/me/notifications."""

    name = "inbox"

    def deliver(self, notification) -> None:
        notification.delivered_at = timezone.now()


_CHANNELS: dict[str, Channel] = {}


def channel_register(channel: Channel) -> None:
    _CHANNELS[channel.name] = channel


def channel_get(name: str) -> Channel | None:
    return _CHANNELS.get(name)


def channel_names() -> list[str]:
    return sorted(_CHANNELS)


channel_register(InboxChannel())
