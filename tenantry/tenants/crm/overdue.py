"""When an open activity is overdue: once its due moment has passed on the workspace's clock
(local_time.now). One of the whole day is overdue from the next day; one with a time of day
from the minute after that time, so a 09:00 call is overdue at 09:01, not only tomorrow.

One rule for the lists and their filters (SQL), the pages (Python) and the morning e-mail
(reminders), which counts what is overdue at the minute it is made."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .models import Activity


def _minute(now: datetime):
    return now.time().replace(second=0, microsecond=0, tzinfo=None)


def condition(now: datetime) -> sa.ColumnElement[bool]:
    """SQL: the activity's due moment has passed at `now` (whether it is done is not asked)."""
    today = now.date()
    return sa.or_(Activity.due_on < today, sa.and_(Activity.due_on == today, Activity.due_time < _minute(now)))


def later_today(now: datetime) -> sa.ColumnElement[bool]:
    """SQL: due today at `now` and not yet overdue (a whole day's, or one at a time still to
    come). Never NULL, unlike NOT condition(now) for a row without a time."""
    return sa.and_(Activity.due_on == now.date(),
                   sa.or_(Activity.due_time.is_(None), Activity.due_time >= _minute(now)))


def of(activity: Activity, now: datetime) -> bool:
    """The activity is open and its due moment has passed at `now`."""
    if activity.done or activity.due_on is None:
        return False
    today = now.date()
    return activity.due_on < today or (activity.due_on == today and activity.due_time is not None
                                       and activity.due_time < _minute(now))
