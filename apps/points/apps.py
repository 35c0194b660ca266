from django.apps import AppConfig


class PointsConfig(AppConfig):
    name = "apps.points"
    label = "points"
    verbose_name = "Points"

    def ready(self) -> None:
        from apps.points import consumers, handlers  # noqa: F401 - registers event types and consumers
