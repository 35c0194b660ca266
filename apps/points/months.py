"""Calendar months in a country's time zone: qualification windows and expiry dates."""

import calendar
from datetime import date, datetime
from zoneinfo import ZoneInfo


def month_end(year: int, month: int) -> date:
    """The last day of a month; `month` may run past 12 (it carries into later years)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def expiry_date(*, at: datetime, time_zone: str, months: int) -> date:
    """The last day of the `months`-th month after the month of `at`, in `time_zone`:
    a transaction on 10 January with 6 months -> 31 July."""
    local = at.astimezone(ZoneInfo(time_zone))
    return month_end(local.year, local.month + months)


def months_before(at: datetime, months: int) -> datetime:
    """The same moment `months` calendar months earlier (the day clamped to the month's end)."""
    total = at.year * 12 + at.month - 1 - months
    year, month = divmod(total, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)
