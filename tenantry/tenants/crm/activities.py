"""Activities (calls, meetings, e-mails, tasks) on a contact, company or deal; the note is encrypted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, time

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import current_tenant

from . import assignments, deals, search, versions
from .models import COMPANY, Activity, Contact, Deal

SUBJECTS = ("contact", "company", "deal")


@dataclass
class ActivityData:
    kind: str
    due_on: date | None = None
    due_time: time | None = None  # on due_on (the forms refuse one without), on the workspace's clock
    note: str = ""
    owner_id: uuid.UUID | None = None  # who is to do it


def _check(data: ActivityData, keeping: uuid.UUID | None = None) -> None:
    if data.owner_id is not None and not deals.is_member(data.owner_id, keeping=keeping):
        raise deals.Refused("owner", "The person assigned must be an active member of this workspace.")


def time_text(activity: Activity) -> str | None:
    """The activity's time of day as HH:MM, as forms, exports and the API write it; None without."""
    return activity.due_time.strftime("%H:%M") if activity.due_time is not None else None


def by_due() -> list:
    """The order of due dates: soonest first; within a day, what is of the whole day before what
    has a time, and those by their time."""
    return [Activity.due_on, Activity.due_time.is_not(None), Activity.due_time]


def get(activity_id: uuid.UUID) -> Activity | None:
    return by_id(Activity, activity_id)


def create(subject: str, subject_id: uuid.UUID, data: ActivityData, *, actor=None) -> Activity:
    """The caller has loaded the subject under the current tenant (so it exists and is ours)."""
    if subject not in SUBJECTS:
        raise ValueError(subject)
    _check(data)
    activity = Activity(id=uuid.uuid4(), tenant_id=current_tenant.id, kind=data.kind, due_on=data.due_on,
                        due_time=data.due_time, owner_id=data.owner_id, done=False, **{f"{subject}_id": subject_id})
    activity.seal("note", data.note)
    db.session.add(activity)
    db.session.flush()
    audit.record("crm.activity.created", actor=actor, tenant_id=activity.tenant_id, target_type="activity",
                 target_id=activity.id, changes=audit.diff(None, activity.snapshot()))
    assignments.note(activity, None, actor=actor)
    return activity


def update(activity: Activity, data: ActivityData, *, actor=None, version: int | None = None) -> Activity:
    """Change kind, due date, note and who is to do it; the subject stays (an activity does not
    move)."""
    _check(data, keeping=activity.owner_id)
    with versions.checked(activity, version):
        before = activity.snapshot()
        # Sealed first: the key it looks up would autoflush the other columns as an UPDATE of
        # their own, and the note as a second one (two versions for one edit).
        activity.seal("note", data.note)
        activity.kind, activity.due_on, activity.due_time = data.kind, data.due_on, data.due_time
        activity.owner_id = data.owner_id
        db.session.flush()
    audit.record("crm.activity.updated", actor=actor, tenant_id=activity.tenant_id, target_type="activity",
                 target_id=activity.id, changes=audit.diff(before, activity.snapshot()))
    assignments.note(activity, before["owner_id"], actor=actor)
    return activity


def complete(activity: Activity, *, done: bool = True, actor=None) -> None:
    activity.done = done
    activity.done_at = clock.now() if done else None
    db.session.flush()
    audit.record("crm.activity.completed" if done else "crm.activity.reopened", actor=actor,
                 tenant_id=activity.tenant_id, target_type="activity", target_id=activity.id)


def set_column(activity: Activity, column: str, value, *, actor=None, via: str = "bulk") -> bool:
    """One of the activity's columns in the clear (owner_id: a member, checked by the caller, or
    None; due_on) set to `value`, audited as a change of it made `via` a list's bulk change.
    False when it held `value` already (nothing written)."""
    before = getattr(activity, column)
    if before == value:
        return False
    setattr(activity, column, value)
    db.session.flush()
    audit.record("crm.activity.updated", actor=actor, tenant_id=activity.tenant_id, target_type="activity",
                 target_id=activity.id, changes=audit.diff({column: before}, {column: value}), details={"via": via})
    if column == "owner_id":
        assignments.note(activity, before, actor=actor)
    return True


def delete(activity: Activity, *, actor=None, version: int | None = None) -> None:
    with versions.checked(activity, version):
        before = activity.snapshot()
        db.session.delete(activity)
        db.session.flush()
    audit.record("crm.activity.deleted", actor=actor, tenant_id=activity.tenant_id, target_type="activity",
                 target_id=activity.id, changes=audit.diff(before, None))


def delete_of(subject: str, subject_id: uuid.UUID) -> None:
    """Before a contact, company or deal goes: its timeline goes with it."""
    column = getattr(Activity, f"{subject}_id")
    db.session.execute(sa.delete(Activity).where(Activity.tenant_id == current_tenant.id, column == subject_id))


def subject_of(activity: Activity) -> tuple[str, uuid.UUID]:
    for subject in SUBJECTS:
        value = getattr(activity, f"{subject}_id")
        if value is not None:
            return subject, value
    raise ValueError("an activity without a subject")


def timeline(subject: str, subject_id: uuid.UUID) -> list[tuple[Activity, str]]:
    """What is still to do first, by when it is due (the overdue first, as by_due orders them;
    the undated after the dated), then what is done, as history: the last done first. Ties go
    newest recorded first. All of a record's activities are shown, so the order is made here,
    the same on every database (they disagree on where a null sorts)."""
    column = getattr(Activity, f"{subject}_id")
    rows = db.session.execute(sa.select(Activity).where(column == subject_id)
                              .order_by(Activity.created_at.desc(), Activity.id.desc())).scalars().all()
    to_do = sorted((a for a in rows if not a.done), key=lambda a: (
        a.due_on is None, a.due_on or date.min, a.due_time is not None, a.due_time or time.min))
    # Done before done_at was kept: by when it was recorded.
    done = sorted((a for a in rows if a.done), key=lambda a: clock.aware(a.done_at or a.created_at), reverse=True)
    return [(a, a.reveal("note")) for a in to_do + done]


def usable():
    """The condition every list of activities adds: not of a restricted contact [DSR-restrict]."""
    from . import contacts

    return sa.or_(Activity.contact_id.is_(None), Activity.contact_id.not_in(sa.select(Contact.id).where(~contacts.visible())))


def matching(query: str):
    """The condition for the activities `query` finds: those of a contact, a company or a deal
    it finds (as their own searches do; never through a restricted contact [DSR-restrict])."""
    from . import contacts, deals

    return sa.or_(Activity.contact_id.in_(contacts.found(query)),
                  Activity.company_id.in_(search.matching(COMPANY, query)),
                  Activity.deal_id.in_(sa.select(Deal.id).where(deals.matching(query))))
