"""The database connection's health check: a healthy idle connection passes without a query;
one the server has closed fails it, and the next request's connection is a new one."""

import time

import pytest
from django.conf import settings
from django.db import connection, connections

from tests.factories.database import from_another_connection

pytestmark = pytest.mark.django_db(transaction=True)


def _server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _count_django_checks(monkeypatch) -> list:
    """Record each time Django's own check (a `SELECT 1` round trip) runs."""
    from django.db.backends.postgresql import base as django_postgres

    asked = []
    real = django_postgres.DatabaseWrapper.is_usable

    def counting(self):
        asked.append(True)
        return real(self)

    monkeypatch.setattr(django_postgres.DatabaseWrapper, "is_usable", counting)
    return asked


def _wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_project_uses_the_cheaper_check():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    assert type(connections["default"]).__module__ == "config.postgres.base"


def test_a_healthy_idle_connection_is_usable_without_a_query(monkeypatch):
    asked = _count_django_checks(monkeypatch)
    _server_pid()

    assert connection.is_usable() is True
    assert asked == []


def test_a_connection_the_server_closed_is_not_usable_and_is_replaced():
    pid = _server_pid()

    from_another_connection("SELECT pg_terminate_backend(%s)", [pid])

    assert _wait_for(lambda: not connection.is_usable())
    # what Django does before the first query of the next request
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert connection.connection is None
    assert _server_pid() != pid


def test_a_notice_from_the_server_gets_the_full_check(monkeypatch):
    asked = _count_django_checks(monkeypatch)
    with connection.cursor() as cursor:
        cursor.execute("LISTEN khata_health_test")
    from_another_connection("NOTIFY khata_health_test")  # arrives on this idle connection
    time.sleep(0.2)

    assert connection.is_usable() is True  # the socket had data: Django's check ran and passed
    assert asked == [True]
    assert connection.is_usable() is True  # the check read it: the socket is quiet again
    assert asked == [True]
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")
