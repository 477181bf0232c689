"""The sales report: what the open pipeline is expected to bring in, month by month of the
deals' expected close dates (weighted by their win probabilities), and what was won and
lost in each of the last months, with the win rate and how long a won deal took; why deals
were lost; and each owner's share of it all.

Everything comes from columns in the clear (value, currency, dates, stage): nothing is
decrypted, and no personal data is shown, so it records no read. Months are the workspace's
own (local_time): a deal won at 00:30 on 1 March in Prague was won in March."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.db import db

from . import deals, overview
from .models import Deal, LostReason, PipelineStage
from .overview import Amounts

CLOSED_MONTHS = 12
FORECAST_MONTHS = 6


@dataclass
class ForecastRow:
    kind: str  # "late" (before this month), "month", "later" or "undated"
    label: str
    month: date | None  # the first day of the month of expected close; None for the other rows
    amounts: Amounts


@dataclass
class ClosedMonth:
    month: date  # its first day
    won: Amounts
    lost: int = 0
    days_to_win: list[int] = field(default_factory=list)  # of each won deal, from its creation

    @property
    def win_rate(self) -> int | None:
        """Per cent of the deals closed in the month that were won; None when none closed."""
        return _rate(self.won.deals, self.lost)

    @property
    def average_days_to_win(self) -> int | None:
        return round(sum(self.days_to_win) / len(self.days_to_win)) if self.days_to_win else None


@dataclass
class OwnerRow:
    """One owner's deals (owner_id None: those of no one): the open ones with their weighted
    value, and those won and lost in the report's months."""

    owner_id: uuid.UUID | None
    open: Amounts = field(default_factory=Amounts)
    won: Amounts = field(default_factory=Amounts)
    lost: int = 0

    @property
    def win_rate(self) -> int | None:
        return _rate(self.won.deals, self.lost)


def _rate(won: int, lost: int) -> int | None:
    closed = won + lost
    return round(100 * won / closed) if closed else None


def month_start(day: date, months: int = 0) -> date:
    """The first day of the month `months` after (or before, when negative) that of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _owned(stmt: sa.Select, owner_id: uuid.UUID | None) -> sa.Select:
    return stmt if owner_id is None else stmt.where(Deal.owner_id == owner_id)


def forecast(now: datetime, owner_id: uuid.UUID | None = None, months: int = FORECAST_MONTHS) -> list[ForecastRow]:
    """The open deals (of `owner_id`, or anyone's) by the month of their expected close date:
    those expected before this month (late), this month and the `months` - 1 after it, later,
    and those with no date; each with its value and what its win probability counts of it
    (deals.win_probability: its own, or its stage's)."""
    this_month = month_start(now.date())
    shown = [month_start(this_month, i) for i in range(months)]
    late, later, undated = Amounts(), Amounts(), Amounts()
    by_month = {m: Amounts() for m in shown}
    rows = db.session.execute(_owned(
        sa.select(Deal.expected_close, Deal.currency, Deal.value, deals.win_probability_sql())
        .join(PipelineStage, PipelineStage.id == Deal.stage_id).where(deals.open_condition()), owner_id))
    for expected, currency, value, probability in rows:
        if expected is None:
            bucket = undated
        elif expected < this_month:
            bucket = late
        else:
            bucket = by_month.get(month_start(expected), later)
        bucket.add(currency, Decimal(value), probability)
    # Short labels: the table must fit a phone's width with its three columns of amounts.
    return [ForecastRow("late", f"Before {this_month:%b %Y}", None, late.sorted()),
            *(ForecastRow("month", f"{m:%b %Y}", m, by_month[m].sorted()) for m in shown),
            ForecastRow("later", "Later", None, later.sorted()),
            ForecastRow("undated", "No date", None, undated.sorted())]


def closed_by_month(now: datetime, owner_id: uuid.UUID | None = None, months: int = CLOSED_MONTHS) -> list[ClosedMonth]:
    """The deals (of `owner_id`, or anyone's) won and lost in this month and the `months` - 1
    before it, newest first: a deal counts in the month it entered its won or lost stage."""
    zone = now.tzinfo
    first = month_start(now.date(), -(months - 1))
    since = datetime.combine(first, time(0), zone)
    result = {month_start(now.date(), -i): ClosedMonth(month_start(now.date(), -i), Amounts()) for i in range(months)}
    rows = db.session.execute(_owned(
        sa.select(Deal.stage_changed_at, Deal.created_at, Deal.currency, Deal.value, PipelineStage.is_won)
        .join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .where(sa.or_(PipelineStage.is_won, PipelineStage.is_lost), Deal.stage_changed_at >= since), owner_id))
    for closed_at, created_at, currency, value, won in rows:
        local = clock.aware(closed_at).astimezone(zone)
        month = result.get(month_start(local.date()))
        if month is None:  # closed after `now` (a clock moved back in a test): not in the window
            continue
        if won:
            month.won.add(currency, Decimal(value))
            month.days_to_win.append(max(0, (clock.aware(closed_at) - clock.aware(created_at)).days))
        else:
            month.lost += 1
    for month in result.values():
        month.won = month.won.sorted()
    return list(result.values())


def by_owner(now: datetime, months: int = CLOSED_MONTHS) -> list[OwnerRow]:
    """Each owner's deals (those of anyone who has some), by owner id; no one's last. Closed
    ones count in the months of closed_by_month, as there."""
    since = datetime.combine(month_start(now.date(), -(months - 1)), time(0), now.tzinfo)
    until = datetime.combine(month_start(now.date(), 1), time(0), now.tzinfo)
    rows: dict[uuid.UUID | None, OwnerRow] = {}
    for owner_id, currency, count, value, weighted in overview.weighed(Deal.owner_id, deals.open_condition()):
        row = rows.setdefault(owner_id, OwnerRow(owner_id))
        row.open.deals += count
        row.open.values[currency], row.open.weighted[currency] = value, weighted
    for owner_id, won, currency, count, value in db.session.execute(
            sa.select(Deal.owner_id, PipelineStage.is_won, Deal.currency, sa.func.count(), sa.func.sum(Deal.value))
            .join(PipelineStage, PipelineStage.id == Deal.stage_id)
            .where(sa.or_(PipelineStage.is_won, PipelineStage.is_lost), Deal.stage_changed_at >= since,
                   Deal.stage_changed_at < until)
            .group_by(Deal.owner_id, PipelineStage.is_won, Deal.currency)):
        row = rows.setdefault(owner_id, OwnerRow(owner_id))
        if won:
            row.won.deals += count
            row.won.values[currency] = Decimal(value)
        else:
            row.lost += count
    for row in rows.values():
        row.open, row.won = row.open.sorted(), row.won.sorted()
    return sorted(rows.values(), key=lambda row: (row.owner_id is None, str(row.owner_id)))


@dataclass
class LostFor:
    reason: str | None  # None: no reason given
    deals: int
    share: int  # per cent of the deals lost in the time
    reason_id: uuid.UUID | None = None


def lost_by_reason(now: datetime, owner_id: uuid.UUID | None = None, months: int = CLOSED_MONTHS) -> list[LostFor]:
    """The deals (of `owner_id`, or anyone's) lost in this month and the `months` - 1 before
    it, by the reason given, most often first; those given none last."""
    since = datetime.combine(month_start(now.date(), -(months - 1)), time(0), now.tzinfo)
    until = datetime.combine(month_start(now.date(), 1), time(0), now.tzinfo)  # the months of closed_by_month
    counts = db.session.execute(_owned(
        sa.select(LostReason.id, LostReason.name, sa.func.count()).select_from(Deal)
        .join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .outerjoin(LostReason, LostReason.id == Deal.lost_reason_id)
        .where(PipelineStage.is_lost, Deal.stage_changed_at >= since, Deal.stage_changed_at < until)
        .group_by(LostReason.id, LostReason.name), owner_id)).all()
    total = sum(count for *_, count in counts)
    ranked = sorted(counts, key=lambda row: (row.name is None, -row[2], row.name or ""))
    return [LostFor(name, count, round(100 * count / total), reason_id) for reason_id, name, count in ranked]


def totals(months: list[ClosedMonth]) -> ClosedMonth:
    """All of these months together (the report's last row); its `month` is the earliest."""
    return ClosedMonth(min(m.month for m in months), overview.summed([m.won for m in months]),
                       sum(m.lost for m in months), [days for m in months for days in m.days_to_win])

