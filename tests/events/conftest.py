import pytest
from django.utils import timezone

from apps.events.registry import event_type_register, event_type_unregister
from config.celery import app as celery_app


class FlakyHandler:
    """A handler that fails its first `failures` calls, writing a row before failing."""

    def __init__(self):
        self.failures = 0
        self.calls = 0

    def __call__(self, *, event, data):
        from apps.identity.models import User

        self.calls += 1
        # a write that must be rolled back when the handler fails
        User.objects.create(username=f"side-effect-{event.event_id}-{self.calls}")
        if self.calls <= self.failures:
            raise RuntimeError(f"downstream unavailable (call {self.calls})")


@pytest.fixture
def flaky_event_type():
    from rest_framework import serializers

    class Payload(serializers.Serializer):
        ref = serializers.CharField()

    handler = FlakyHandler()
    event_type_register("test.flaky", payload_serializer=Payload, handler=handler)
    yield handler
    event_type_unregister("test.flaky")


def make_due(model_instance, seconds_ago: int = 0):
    """Move a pending row's next attempt into the past, as if time had passed."""
    type(model_instance).objects.filter(pk=model_instance.pk).update(
        next_attempt_at=timezone.now() - timezone.timedelta(seconds=seconds_ago)
    )


@pytest.fixture
def broker_unreachable():
    """Publish to a real broker address where nothing listens (the broker is down)."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.broker_url)
    conf.task_always_eager = False
    conf.broker_url = "redis://127.0.0.1:1/0"
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.__dict__.pop("producer_pool", None)
    yield
    conf.task_always_eager, conf.broker_url = saved
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.__dict__.pop("producer_pool", None)
