"""Incidents and the breach register [DPA-4.3.6, DPA-4.3.7, TEK-breach-content, TEK-breach-plan].

Every table here is append-only: the application role may SELECT and INSERT, never UPDATE or
DELETE. What changes over an incident's life (notices sent, reminders, flags, plan, solution,
corrections) is a new row, so the register shows what was known when, and nothing can be
quietly rewritten. Acknowledgement and delivery live on the platform's Notification rows that
each notice links to.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

PLAN_WITHIN = timedelta(hours=24)
NOTIFY_WITHIN = timedelta(hours=48)
SOLVE_WITHIN = timedelta(hours=48)
REMINDER_HOURS = (24, 36, 44)


class Source(enum.StrEnum):
    PROCESSOR = "processor"
    TENANT = "tenant"


class Scope(enum.StrEnum):
    ALL = "all"
    CHOSEN = "chosen"
    SUBPROCESSOR = "subprocessor"
    SYSTEM = "system"


class EntryKind(enum.StrEnum):
    LOGGED = "logged"
    PLAN = "plan"
    UPDATE = "update"
    NOTE = "note"
    CORRECTION = "correction"
    TARGET = "target"
    SOLUTION = "solution"
    AUTHORITY = "authority"
    CLOSED = "closed"


# Entries that tenants see in their register; internal notes stay with the processor.
SHARED_KINDS = {EntryKind.LOGGED, EntryKind.UPDATE, EntryKind.CORRECTION, EntryKind.SOLUTION,
                EntryKind.AUTHORITY, EntryKind.CLOSED, EntryKind.PLAN}


def severity_level(score: float) -> str:
    """ENISA's 2013 recommendation: SE = DPC x EI + CB, read as four levels."""
    if score < 2:
        return "low"
    if score < 3:
        return "medium"
    if score < 4:
        return "high"
    return "very high"


class Incident(db.Model):
    """The processor's record of one personal-data breach, as first logged."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(sa.String(10))
    # A tenant's own report to the processor [DPA-3.3]; NULL when the processor found it.
    reported_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="SET NULL"), index=True)
    reported_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    logged_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    detected_at: Mapped[datetime]
    aware_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(sa.String(200))
    nature_confidentiality: Mapped[bool] = mapped_column(default=False)
    nature_integrity: Mapped[bool] = mapped_column(default=False)
    nature_availability: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    systems: Mapped[str] = mapped_column(sa.Text, default="")
    subject_categories: Mapped[str] = mapped_column(sa.Text, default="")
    subjects_approx: Mapped[int | None]
    record_categories: Mapped[str] = mapped_column(sa.Text, default="")
    records_approx: Mapped[int | None]
    consequences: Mapped[str] = mapped_column(sa.Text, default="")
    measures_taken: Mapped[str] = mapped_column(sa.Text, default="")
    measures_proposed: Mapped[str] = mapped_column(sa.Text, default="")
    contact: Mapped[str] = mapped_column(sa.String(400))
    # ENISA severity inputs: data processing context, ease of identification, circumstances.
    severity_dpc: Mapped[int | None]
    severity_ei: Mapped[float | None] = mapped_column(sa.Float)
    severity_cb: Mapped[float | None] = mapped_column(sa.Float)
    severity_justification: Mapped[str] = mapped_column(sa.Text, default="")
    scope: Mapped[str] = mapped_column(sa.String(12))
    scope_detail: Mapped[str] = mapped_column(sa.String(200), default="")
    plan_due_at: Mapped[datetime]
    notify_due_at: Mapped[datetime]
    solution_target_at: Mapped[datetime]
    solution_target_reason: Mapped[str] = mapped_column(sa.Text, default="")

    __table_args__ = (
        sa.CheckConstraint("source in ('processor', 'tenant')", name="source"),
        sa.CheckConstraint("scope in ('all', 'chosen', 'subprocessor', 'system')", name="scope"),
        sa.CheckConstraint("severity_dpc IS NULL OR severity_dpc BETWEEN 1 AND 4", name="severity_dpc"),
        sa.CheckConstraint("severity_ei IS NULL OR severity_ei IN (0.25, 0.5, 0.75, 1)", name="severity_ei"),
        sa.CheckConstraint("aware_at >= detected_at", name="aware_after_detected"),
    )

    @property
    def nature(self) -> list[str]:
        return [name for name, on in (("confidentiality", self.nature_confidentiality),
                                      ("integrity", self.nature_integrity),
                                      ("availability", self.nature_availability)) if on]

    @property
    def severity_score(self) -> float | None:
        if self.severity_dpc is None or self.severity_ei is None:
            return None
        return round(self.severity_dpc * self.severity_ei + (self.severity_cb or 0.0), 2)

    @property
    def severity(self) -> str | None:
        score = self.severity_score
        return None if score is None else severity_level(score)


class IncidentEntry(db.Model):
    """One line of an incident's timeline. A correction is a new entry, never an edit."""

    __tablename__ = "incident_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    incident_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    kind: Mapped[str] = mapped_column(sa.String(12))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    corrects_entry_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("incident_entries.id"))
    # Kind-specific facts: the authority's reference and date, a new solution target.
    data: Mapped[dict | None] = mapped_column(sa.JSON)

    __table_args__ = (
        sa.CheckConstraint(
            "kind in ('logged', 'plan', 'update', 'note', 'correction', 'target', 'solution', 'authority', 'closed')",
            name="kind"),
    )

    @property
    def shared(self) -> bool:
        return self.kind in SHARED_KINDS


class IncidentTenant(TenantScoped, db.Model):
    """A tenant the incident affects: its register shows the incident from then on."""

    __tablename__ = "incident_tenants"

    incident_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id", "incident_id"),)


class IncidentNotice(TenantScoped, db.Model):
    """One notice to one tenant: the first (art. 33(3) content) or a follow-up update.

    `sent_at` is when the DPO issued it, i.e. when its notification rows were written; that is
    the moment the 48-hour promise is judged on, because from then on delivery no longer
    depends on anyone's decision (the sweep retries until it is through).
    """

    __tablename__ = "incident_notices"

    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    incident_id: Mapped[uuid.UUID] = mapped_column(index=True)
    entry_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("incident_entries.id"))
    initial: Mapped[bool] = mapped_column(default=False)
    sent_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    late_seconds: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "incident_id"],
                                ["incident_tenants.tenant_id", "incident_tenants.incident_id"], ondelete="CASCADE"),
        sa.CheckConstraint("late_seconds >= 0", name="late_seconds"),
    )


class IncidentNoticeRecipient(TenantScoped, db.Model):
    """Which notification rows carried a notice: their delivery and acknowledgement are tracked there."""

    __tablename__ = "incident_notice_recipients"

    notice_id: Mapped[uuid.UUID]
    # No foreign key: notifications belong to the platform and have no (tenant_id, id) key to
    # reference; the row is written in the same transaction as the notification it names.
    notification_id: Mapped[uuid.UUID]

    __table_args__ = (
        sa.PrimaryKeyConstraint("tenant_id", "notice_id", "notification_id"),
        sa.ForeignKeyConstraint(["tenant_id", "notice_id"], ["incident_notices.tenant_id", "incident_notices.id"],
                                ondelete="CASCADE"),
    )


class IncidentReminder(db.Model):
    """A reminder to the DPO and platform admins at 24, 36 or 44 h: one row, so each goes once."""

    __tablename__ = "incident_reminders"

    incident_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    hours: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=clock.now)
    sent: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (sa.PrimaryKeyConstraint("incident_id", "hours"),)


class IncidentFlag(db.Model):
    """A deadline that passed unmet (plan, notify or solution): the red flag stays in the record."""

    __tablename__ = "incident_flags"

    incident_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    deadline: Mapped[str] = mapped_column(sa.String(10))
    flagged_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.PrimaryKeyConstraint("incident_id", "deadline"),
        sa.CheckConstraint("deadline in ('plan', 'notify', 'solution')", name="deadline"),
    )
