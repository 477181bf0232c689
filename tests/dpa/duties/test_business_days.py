"""Business days over weekends and Czech public holidays, and calendar-month addition."""

from datetime import UTC, date, datetime

import pytest

from tenantry.platform.business_days import (
    add_business_days,
    add_months,
    business_days_between,
    is_business_day,
)


def at(y, m, d, h=10, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def test_a_weekend_is_skipped():
    assert add_business_days(at(2026, 6, 5), 1) == at(2026, 6, 8)  # Friday -> Monday
    assert add_business_days(at(2026, 6, 6), 1) == at(2026, 6, 8)  # Saturday -> Monday
    assert add_business_days(at(2026, 6, 7, 23, 59), 1) == at(2026, 6, 8, 23, 59)


@pytest.mark.obligation("DPA-3.2")
def test_ten_business_days_across_a_weekend_and_28_october():
    # Fri 23 Oct 2026; 28 October (Wednesday) is Czech Statehood Day.
    assert not is_business_day(date(2026, 10, 28))
    assert add_business_days(at(2026, 10, 23), 10) == at(2026, 11, 9)
    # Without the holiday it would be Friday 6 November: the holiday moves it over a weekend.
    assert add_business_days(at(2026, 10, 23), 10, country="US") == at(2026, 11, 6)


@pytest.mark.obligation("DPA-3.2")
def test_christmas_and_new_year_are_not_business_days():
    # 24-26 December and 1 January are Czech public holidays.
    assert add_business_days(at(2026, 12, 21), 5) == at(2026, 12, 30)
    assert add_business_days(at(2026, 12, 21), 10) == at(2027, 1, 7)
    assert add_business_days(at(2026, 11, 16), 1) == at(2026, 11, 18)  # 17 November skipped


def test_business_days_between_counts_the_same_days():
    start = at(2026, 10, 23)
    for n in (1, 5, 8, 10):
        assert business_days_between(start, add_business_days(start, n)) == n


def test_zero_and_negative():
    assert add_business_days(at(2026, 6, 6), 0) == at(2026, 6, 6)
    with pytest.raises(ValueError):
        add_business_days(at(2026, 6, 6), -1)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2026, 12, 15), 1, date(2027, 1, 15)),
    (date(2026, 6, 1), 1, date(2026, 7, 1)),
    (date(2026, 6, 1), 13, date(2027, 7, 1)),
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
])
def test_calendar_month_addition_clamps_the_day(start, months, expected):
    assert add_months(start, months) == expected
