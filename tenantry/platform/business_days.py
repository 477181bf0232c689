"""Business days and calendar months for deadlines: weekends and a country's public holidays
(the `holidays` package) are not business days."""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, timedelta
from typing import TypeVar

import holidays

D = TypeVar("D", date, datetime)


@functools.lru_cache(maxsize=32)
def _calendar(country: str) -> holidays.HolidayBase:
    # One calendar object per country; it fills in years lazily as dates are looked up.
    return holidays.country_holidays(country.upper())


def is_business_day(day: date, country: str = "CZ") -> bool:
    return day.weekday() < 5 and day not in _calendar(country)


def add_business_days(start: datetime, n: int, country: str = "CZ") -> datetime:
    """The moment `n` business days after `start`, at the same time of day.

    Day one is the first business day after the start's own date, whether or not the start
    falls on a business day: a request received on Saturday or at 23:00 on Friday has the same
    deadline as one received during Friday.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    current = start
    counted = 0
    while counted < n:
        current += timedelta(days=1)
        if is_business_day(current.date(), country):
            counted += 1
    return current


def business_days_between(start: datetime, end: datetime, country: str = "CZ") -> int:
    """How many business days have begun after `start`'s date up to and including `end`'s date."""
    count = 0
    day = start.date() + timedelta(days=1)
    while day <= end.date():
        if is_business_day(day, country):
            count += 1
        day += timedelta(days=1)
    return count


def add_months(day: D, months: int) -> D:
    """Calendar month addition (negative goes back), for a date or a datetime (its time kept); a
    day the target month lacks becomes its last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return day.replace(year=year, month=month, day=min(day.day, last))
