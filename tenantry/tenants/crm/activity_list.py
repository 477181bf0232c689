"""The activities list: every call, meeting, e-mail and task of the workspace, by kind and
state, searched by what they are about, a page at a time. Filters and order run in SQL (kind,
dates and the done flag are not encrypted); only the page shown is decrypted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant

from . import activities, overdue, overview
from .models import ACTIVITY_KINDS, Activity

PAGE_SIZE = 25
STATES = {"open": "Open", "due": "Due by today", "week": "Due within a week", "overdue": "Overdue", "done": "Done",
          "all": "All"}
SORTS = {"due": "Due date, soonest first", "newest": "Newest first"}
UNASSIGNED = "nobody"  # the "Assigned to" filter's choice of the activities assigned to no one


@dataclass
class Page:
    items: list[overview.Due]
    total: int
    page: int
    pages: int


def in_state(state: str, now: datetime) -> list:
    """The conditions of a STATES choice (none for "all" or one unknown) at `now`, on the
    workspace's clock: "open", "due" (by today), "week" (by a week from today: what the
    dashboard shows) and "overdue" (its due moment passed: overdue.py) leave out those done."""
    today = now.date()
    conditions = {"open": [], "due": [Activity.due_on <= today], "week": [Activity.due_on <= today + overview.DUE_WITHIN],
                  "overdue": [overdue.condition(now)]}
    if state in conditions:
        return [Activity.done.is_(False), *conditions[state]]
    return [Activity.done.is_(True)] if state == "done" else []


def any_listed() -> bool:
    """Whether the workspace has any activity the list could show, in any state: an empty
    default list (the open ones) then says that all are done rather than that there are none."""
    stmt = sa.select(Activity.id).where(Activity.tenant_id == current_tenant.id, activities.usable()).limit(1)
    return db.session.execute(stmt).first() is not None


def listing(*, now: datetime, q: str = "", kind: str = "", state: str = "open", sort: str = "due", page: int = 1,
            page_size: int | None = None, owner: uuid.UUID | str | None = None) -> Page:
    """One page of activities in `state` at `now` (in_state); those of a restricted contact are never
    listed [DSR-restrict]. By due date, those without one come last. `owner`: only those
    assigned to that member, or to nobody (UNASSIGNED)."""
    stmt = sa.select(Activity).where(Activity.tenant_id == current_tenant.id, activities.usable())
    if kind in ACTIVITY_KINDS:
        stmt = stmt.where(Activity.kind == kind)
    if owner == UNASSIGNED:
        stmt = stmt.where(Activity.owner_id.is_(None))
    elif isinstance(owner, uuid.UUID):
        stmt = stmt.where(Activity.owner_id == owner)
    stmt = stmt.where(*in_state(state, now))
    if q.strip():
        stmt = stmt.where(activities.matching(q))
    page_size = page_size or PAGE_SIZE
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    if sort == "newest":
        order = [Activity.created_at.desc(), Activity.id.desc()]
    else:
        order = [Activity.due_on.is_(None), *activities.by_due(), Activity.created_at, Activity.id]
    rows = db.session.execute(stmt.order_by(*order).limit(page_size).offset((page - 1) * page_size)).scalars().all()
    return Page(overview.described(list(rows), now), total, page, pages)
