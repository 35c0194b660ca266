"""One redemption attempt per card at a time.

A session-level PostgreSQL advisory lock keyed by the card fingerprint, held across the vendor
call (which is outside any transaction) and released when the attempt ends; if the process
dies, PostgreSQL releases it with the connection.
"""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def card_lock(fingerprint: str):
    key = f"giftcards:card:{fingerprint}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 1))", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 1))", [key])
