import pytest
from rest_framework.test import APIClient

from tests.factories.identity import api_client_with_key, user_with_token


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def service_api(db):
    """An APIClient authenticated as a platform service with every events scope."""

    def make(scopes=("events:write",)):
        _, key = api_client_with_key(scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client

    return make


@pytest.fixture
def user_api(db):
    """(user, APIClient authenticated with the user's token)."""

    def make(**kwargs):
        user, token = user_with_token(**kwargs)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return user, client

    return make


def _queues_purge() -> None:
    """Drop queued tasks, on every queue Khata routes to: stale tasks from an aborted earlier run
    must not reach this test's database."""
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write() as connection:
        for queue in (app.conf.task_default_queue, settings.STREAM_QUEUE):
            connection.default_channel.queue_purge(queue)


@pytest.fixture
def broker(transactional_db):
    """Tasks go to Redis for a real worker instead of running in this process."""
    from config.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    _queues_purge()
    yield
    _queues_purge()
    app.conf.task_always_eager = saved
