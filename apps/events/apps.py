from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = "Events, outbox and notifications"

    def ready(self) -> None:
        from apps.events import consumers  # noqa: F401 - registers the notifications consumer
