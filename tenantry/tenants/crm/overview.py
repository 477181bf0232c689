"""What the workspace dashboard shows of the CRM: the activities coming due, and the open
pipeline by stage. Sums and counts run in SQL; only the handful of rows shown are decrypted."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from markupsafe import Markup

from tenantry.platform.db import db

from . import activities, contacts, deals, overdue, stages
from .models import Activity, Company, Contact, Deal, PipelineStage

DUE_WITHIN = timedelta(days=7)
SHOWN = 10


@dataclass
class Due:
    activity: Activity
    note: str
    subject: str  # contact, company or deal
    subject_id: uuid.UUID
    label: str
    overdue: bool


@dataclass
class StageTotal:
    name: str
    deals: int = 0
    # currency -> sum; values in different currencies are never added together
    values: dict[str, Decimal] = field(default_factory=dict)
    probability: int = 100  # the stage's, in per cent
    # currency -> the share of the sum the deals' win probabilities count (deals.win_probability:
    # the stage's, or a deal's own)
    weighted: dict[str, Decimal] = field(default_factory=dict)


def weigh(value: Decimal, probability: int) -> Decimal:
    """The share of `value` that `probability` (per cent) counts, exactly: rounded only where
    it is shown (currencies.format_amount), so that a sum of shares is not a sum of roundings."""
    return value * probability / 100


@dataclass
class Amounts:
    """How many deals, and their value (and weighted value) per currency, never added across
    currencies."""

    deals: int = 0
    values: dict[str, Decimal] = field(default_factory=dict)
    weighted: dict[str, Decimal] = field(default_factory=dict)

    def add(self, currency: str, value: Decimal, probability: int = 100) -> None:
        self.deals += 1
        self.values[currency] = self.values.get(currency, Decimal(0)) + value
        self.weighted[currency] = self.weighted.get(currency, Decimal(0)) + weigh(value, probability)

    def sorted(self) -> Amounts:
        return Amounts(self.deals, dict(sorted(self.values.items())), dict(sorted(self.weighted.items())))


def summed(parts: list) -> Amounts:
    """These together (Amounts, or StageTotals: the dashboard's pipeline): deals counted, values
    and weighted values added per currency, in the order of currencies."""
    total = Amounts()
    for part in parts:
        total.deals += part.deals
        for mine, theirs in ((total.values, part.values), (total.weighted, part.weighted)):
            for currency, value in theirs.items():
                mine[currency] = mine.get(currency, Decimal(0)) + value
    return total.sorted()


def due_activities(now: datetime, owner_id: uuid.UUID | None = None) -> tuple[list[Due], int]:
    """Open activities due by a week from today at `now` (only those assigned to `owner_id`, if
    given), soonest first, and how many there are in all. An activity of a restricted contact
    is left out, as restricted contacts are from every list."""
    stmt = _due_within_a_week(now.date(), owner_id)
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(
        stmt.order_by(*activities.by_due(), Activity.created_at, Activity.id).limit(SHOWN)).scalars().all()
    return described(rows, now), total


def due_count(today: date) -> int:
    """How many open activities of anyone's are due by a week from `today` (due_activities' total)."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(_due_within_a_week(today, None).subquery())).scalar_one()


def _due_within_a_week(today: date, owner_id: uuid.UUID | None):
    stmt = sa.select(Activity).where(
        Activity.done.is_(False), Activity.due_on.is_not(None), Activity.due_on <= today + DUE_WITHIN, activities.usable())
    return stmt if owner_id is None else stmt.where(Activity.owner_id == owner_id)


def due_shown(activity: Activity) -> Markup:
    """When an activity is due, as a <time>: its date, and its time of day if it has one (on
    the workspace's clock); the template filter `due`."""
    if activity.due_on is None:
        return Markup("—")
    if activity.due_time is None:
        day = activity.due_on.isoformat()
        return Markup('<time datetime="{}">{}</time>').format(day, day)
    at = f"{activity.due_on.isoformat()}T{activity.due_time.strftime('%H:%M')}"
    return Markup('<time datetime="{}">{}</time>').format(at, at.replace("T", " "))


def described(rows: list[Activity], now: datetime) -> list[Due]:
    """Each activity with its note, the name of what it is about, and whether it is overdue at
    `now` (for lists of activities)."""
    subjects = [activities.subject_of(a) for a in rows]
    labels = subject_labels(subjects)
    return [Due(activity, activity.reveal("note"), subject, subject_id, labels.get((subject, subject_id), RESTRICTED_LABEL),
                overdue=overdue.of(activity, now))
            for activity, (subject, subject_id) in zip(rows, subjects, strict=True)]


RESTRICTED_LABEL = "Restricted contact"


def subject_labels(subjects: list[tuple[str, uuid.UUID]]) -> dict[tuple[str, uuid.UUID], str]:
    """Each subject's name or title, each kind loaded in one query. A restricted contact's name
    is not used [DSR-restrict]: it has no label (show RESTRICTED_LABEL)."""
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for subject, subject_id in subjects:
        wanted[subject].add(subject_id)
    labels = {}
    if wanted["contact"]:
        rows = db.session.execute(sa.select(Contact).where(Contact.id.in_(wanted["contact"]),
                                                           contacts.visible())).scalars().all()
        labels.update({("contact", c.id): contacts.display_name(plain)
                       for c, plain in zip(rows, Contact.plain_all(rows), strict=True)})
    for subject, model, column in (("company", Company, "name"), ("deal", Deal, "title")):
        if wanted[subject]:
            rows = db.session.execute(sa.select(model).where(model.id.in_(wanted[subject]))).scalars()
            labels.update({(subject, row.id): row.reveal(column) or "(untitled)" for row in rows})
    return labels


def idle_deals() -> int:
    """How many open deals have no open activity (deals.idle)."""
    return db.session.execute(sa.select(sa.func.count()).select_from(Deal).where(*deals.idle())).scalar_one()


def late_deals(today: date) -> int:
    """How many open deals are past their expected close date (deals.late)."""
    return db.session.execute(sa.select(sa.func.count()).select_from(Deal).where(*deals.late(today))).scalar_one()


def won_total(start: datetime) -> StageTotal:
    """The deals won from `start` on (deals.won_since): how many, and their value per currency."""
    result = StageTotal("won")
    for currency, count, value in db.session.execute(
            sa.select(Deal.currency, sa.func.count(), sa.func.sum(Deal.value)).where(*deals.won_since(start))
            .group_by(Deal.currency).order_by(Deal.currency)):
        result.deals += count
        result.values[currency] = Decimal(value or 0)
    return result


def open_pipeline() -> list[StageTotal]:
    """Deals in each stage that is neither won nor lost, in the tenant's order of stages."""
    open_stages = [s for s in stages.ordered() if not (s.is_won or s.is_lost)]
    totals = stage_totals(open_stages)
    return [totals[s.id] for s in open_stages]


def stage_totals(of_stages: list, *conditions) -> dict[uuid.UUID, StageTotal]:
    """How many deals each of these stages holds, their value and weighted value per currency,
    counting only the deals that meet `conditions` (value, currency and probabilities are in
    the clear: summed in SQL, exactly)."""
    totals = {s.id: StageTotal(s.name, probability=s.probability) for s in of_stages}
    rows = weighed(Deal.stage_id, Deal.stage_id.in_(list(totals)), *conditions) if totals else []
    for stage_id, currency, count, value, weighted in rows:
        total = totals[stage_id]
        total.deals += count
        total.values[currency], total.weighted[currency] = value, weighted
    return totals


def weighed(key, *conditions) -> list[tuple]:
    """(key, currency, deals, value, weighted value) of the deals that meet `conditions`, by
    `key` (a Deal column) and currency: summed in SQL, exactly, each deal weighed by its win
    probability (deals.win_probability: its own, or its stage's)."""
    rows = db.session.execute(
        sa.select(key, Deal.currency, sa.func.count(), sa.func.sum(Deal.value),
                  sa.func.sum(Deal.value * deals.win_probability_sql()))
        .join(PipelineStage, PipelineStage.id == Deal.stage_id).where(*conditions)
        .group_by(key, Deal.currency).order_by(Deal.currency))
    return [(k, currency, count, Decimal(value or 0), Decimal(weighted or 0) / 100)
            for k, currency, count, value, weighted in rows]
