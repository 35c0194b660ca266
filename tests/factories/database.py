"""Reaching the test database from outside Django's connection: to end its backend, as a server
restart or an administrator would."""

import psycopg
from django.db import connection


def from_another_connection(sql: str, params=()) -> None:
    """Run one statement on a separate autocommit connection to the same database."""
    conninfo = connection.get_connection_params()
    conninfo.pop("context", None)
    conninfo.pop("cursor_factory", None)
    with psycopg.connect(**conninfo, autocommit=True) as other:
        other.execute(sql, params)
