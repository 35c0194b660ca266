"""Readers of JSON values in their plain form, for payload fast paths.

Validating a batch of a thousand events with DRF serializers costs far more than storing them.
An event type may therefore register a fast path that reads a payload sent in its plain form:
strings already trimmed and in ASCII, integers as JSON integers, times in ISO 8601 with an
offset. Each reader returns exactly what the corresponding DRF field would return for such a
value, or None for anything else; the payload then goes through the serializer, which decides
and, if needed, names the error. A fast path therefore never accepts what the serializer refuses.
"""

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime


def plain_str(value, *, max_length: int) -> str | None:
    """A CharField value: a non-blank ASCII string without surrounding whitespace or NUL."""
    if (
        type(value) is not str
        or not value
        or len(value) > max_length
        or not value.isascii()
        or value != value.strip()
        or "\x00" in value
    ):
        return None
    return value


def plain_int(value, *, low: int, high: int) -> int | None:
    """A JSON integer (not a boolean, not a float) within [low, high]."""
    if type(value) is not int or value < low or value > high:
        return None
    return value


def plain_datetime(value) -> datetime | None:
    """A DateTimeField value: an ISO 8601 string with an offset, in the current time zone."""
    if type(value) is not str or not value.isascii() or value != value.strip():
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None or parsed.utcoffset() is None:
        return None
    try:
        return parsed.astimezone(timezone.get_current_timezone())
    except OverflowError:
        return None
