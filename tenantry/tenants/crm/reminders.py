"""The morning e-mail of what is due: each member to whom open activities are assigned that
are due today or overdue, or open deals past their expected close date, is told once a day
how many there are, with links to them.

The e-mail names no contact, company, deal or note: only counts and the workspace. Its text
passes through the mail provider and sits in mailboxes the controller does not run, so the
personal data stays behind the sign-in and its audit trail.

A member turns it off (and on again) on the dashboard, with the e-mails of assignments.py. A
deactivated member, or one assigned nothing due, gets nothing; an activity of a restricted
contact is not counted [DSR-restrict].
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tenantry.dpa import recipients
from tenantry.platform import audit, notify
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, current_tenant, tenant_context
from tenantry.tenants import local_time

from . import activities, bulk, deals, overdue
from .models import Activity, ActivityReminder, Deal, ReminderRun

# On each workspace's own clock (local_time), whose date is the CRM's "today": before the
# working day starts, about what is due in it. A morning the sweep missed (the platform was
# down) is skipped, not sent in the afternoon or at night.
SEND_FROM, SEND_UNTIL = time(6, 0), time(12, 0)
KIND = "crm.due-reminder"  # activities due and deals late
log = logging.getLogger(__name__)


@dataclass
class DueCount:
    overdue: int = 0  # activities
    today: int = 0  # activities
    late_deals: int = 0  # open deals past their expected close date


def wanted(user_id: uuid.UUID) -> bool:
    """Whether the member wants the e-mails in the current workspace (yes, unless turned off)."""
    row = db.session.get(ActivityReminder, (current_tenant.id, user_id))
    return row is None or row.enabled


def set_wanted(user, enabled: bool) -> bool:
    """Turn the member's e-mails on or off in the current workspace, audited; False when they
    were already so."""
    row = db.session.get(ActivityReminder, (current_tenant.id, user.id))
    if row is None:
        if enabled:
            return False
        row = ActivityReminder(user_id=user.id)
        db.session.add(row)
    elif row.enabled == enabled:
        return False
    row.enabled = enabled
    audit.record("crm.reminders.changed", actor=user, tenant_id=current_tenant.id, target_type="user",
                 target_id=user.id, details={"enabled": enabled})
    return True


def due_counts(now: datetime) -> dict[uuid.UUID, DueCount]:
    """For each active member of the current workspace assigned open activities due by the
    end of the day at `now` (the workspace's clock) or open deals past their expected close
    date: how many of each. Overdue as the pages count it (overdue.py): a 07:00 call is
    overdue in an e-mail sent at 08:00, not due today."""
    today = now.date()
    late_now = overdue.condition(now)
    member = sa.and_(Membership.user_id == Activity.owner_id, Membership.tenant_id == Activity.tenant_id,
                     Membership.deactivated_at.is_(None))
    counts: dict[uuid.UUID, DueCount] = {}
    for owner_id, late, due in db.session.execute(
            sa.select(Activity.owner_id, sa.func.count().filter(late_now),
                      sa.func.count().filter(overdue.later_today(now))).join(Membership, member)
            .where(Activity.tenant_id == current_tenant.id, Activity.done.is_(False), Activity.due_on <= today,
                   activities.usable())
            .group_by(Activity.owner_id)):
        counts[owner_id] = DueCount(overdue=late, today=due)
    for owner_id, late in db.session.execute(
            sa.select(Deal.owner_id, sa.func.count())
            .join(Membership, sa.and_(Membership.user_id == Deal.owner_id, Membership.tenant_id == Deal.tenant_id,
                                      Membership.deactivated_at.is_(None)))
            .where(Deal.tenant_id == current_tenant.id, *deals.late(today)).group_by(Deal.owner_id)):
        counts.setdefault(owner_id, DueCount()).late_deals = late
    return counts


def sweep(as_of: datetime) -> int:
    """The cron step: each active workspace's reminders for its day at `as_of`, once a day, in
    its morning (SEND_FROM to SEND_UNTIL on its own clock); the number of e-mails queued. A workspace whose day is done
    costs nothing more than its row in this one query on later runs. Each workspace commits on
    its own: one that fails is logged and tried again at the next sweep, the others are not
    held back."""
    with all_tenants():
        candidates = db.session.execute(
            sa.select(Tenant, ReminderRun.last_sent_on).outerjoin(ReminderRun, ReminderRun.tenant_id == Tenant.id)
            .where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.slug)).all()
    due = []
    for tenant, last_sent_on in candidates:
        local = local_time.now(tenant, as_of)
        if SEND_FROM <= local.time() < SEND_UNTIL and (last_sent_on is None or last_sent_on < local.date()):
            due.append((tenant, local))
    sent = 0
    for tenant, local in due:
        try:
            with tenant_context(tenant):
                if _claim(ReminderRun, local.date(), ReminderRun.tenant_id == tenant.id):
                    sent += remind(tenant, local)
                db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("the activity reminders of tenant %s failed; the next sweep tries again", tenant.id)
    return sent


def remind(tenant: Tenant, now: datetime) -> int:
    """Queue the current workspace's e-mails for the day at `now` (its own clock) to the members
    not yet told that day."""
    today = now.date()
    counts = due_counts(now)
    if not counts:
        return 0
    users = {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(list(counts)))).scalars()}
    sent = 0
    for user_id, count in sorted(counts.items(), key=lambda item: users[item[0]].email):
        if _claim(ActivityReminder, today, ActivityReminder.user_id == user_id, user_id=user_id):
            _send(tenant, users[user_id], count)
            sent += 1
    return sent


def _claim(model, today: date, where, **new) -> bool:
    """Mark `today` as done in the row of `model` that `where` finds (a workspace's run, or a
    member's e-mail), or in a new one made of `new`, unless it was done already (or the member
    does not want it). The row is locked, and a new one inserted in a savepoint, so two sweeps
    at once do the day's work once."""
    row = db.session.execute(sa.select(model).where(where).with_for_update()).scalar_one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(model(last_sent_on=today, **new))
        except IntegrityError:
            return False  # another sweep has just claimed it
        return True
    if not getattr(row, "enabled", True) or (row.last_sent_on is not None and row.last_sent_on >= today):
        return False
    row.last_sent_on = today
    return True


def _send(tenant: Tenant, user: User, count: DueCount) -> None:
    pieces, links = [], []
    base = f"{recipients.base_url()}/t/{tenant.slug}"
    if count.overdue and count.today:
        pieces.append(f"{bulk.counted(count.overdue + count.today, Activity)} due "
                      f"({count.overdue} overdue and {count.today} due today)")
    elif count.overdue or count.today:
        pieces.append(bulk.counted(count.overdue, Activity) + " overdue" if count.overdue
                      else bulk.counted(count.today, Activity) + " due today")
    if count.overdue or count.today:
        links.append(f"Your activities due:\n{base}/crm/activities?owner={user.id}&state=due")
    if count.late_deals:
        its = "its" if count.late_deals == 1 else "their"
        pieces.append(f"{bulk.counted(count.late_deals, Deal)} past {its} expected close date")
        links.append(f"Your deals past their close date:\n{base}/crm/deals?owner={user.id}&close={deals.LATE}")
    summary = " and ".join(pieces)
    body = (f"Good morning,\n\nAssigned to you in {tenant.name}: {summary}.\n\n"
            "See them (after signing in):\n\n" + "\n\n".join(links) + "\n\n"
            "This e-mail names no one: what it is about stays in the workspace.\n"
            "You get it on mornings when something assigned to you is due. To stop it, use "
            f"\"Stop these e-mails\" on your dashboard:\n{base}/\n")
    notify.create(KIND, recipient=user, tenant_id=tenant.id, subject=f"{tenant.name}: {summary}", body=body)
