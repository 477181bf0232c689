"""Audits, supervisory authority inspections, cooperation requests and records of processing.

Deadlines are columns, computed when the triggering event is recorded; the sweep acts on them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

# --- audits [DPA-4.3.5, DPA-4.6] -------------------------------------------------------------

AUDIT_STATES = ("awaiting-decision", "accepted", "auditor-objected", "withdrawn")
OBJECTION_REASONS = {"not-independent": "The auditor is not independent",
                     "competitor": "The auditor is a competitor of the processor"}


class Audit(TenantScoped, db.Model):
    __tablename__ = "duty_audits"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    ref: Mapped[str] = mapped_column(sa.String(20))
    scope: Mapped[str] = mapped_column(sa.Text)
    proposed_date: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(20), default="awaiting-decision")
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "ref"),
        sa.CheckConstraint("status in ('awaiting-decision', 'accepted', 'auditor-objected', 'withdrawn')",
                           name="status"),
    )


class AuditorNomination(TenantScoped, db.Model):
    """One auditor named for an audit. After an objection the tenant names another: a new row."""

    __tablename__ = "duty_auditor_nominations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    audit_id: Mapped[uuid.UUID]
    auditor_name: Mapped[str] = mapped_column(sa.String(200))
    auditor_organisation: Mapped[str] = mapped_column(sa.String(200))
    independence_statement: Mapped[str] = mapped_column(sa.Text)
    nominated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The processor objects within 5 days of the nomination or not at all.
    objection_window_ends_at: Mapped[datetime]
    decision: Mapped[str] = mapped_column(sa.String(10), default="pending")
    decided_at: Mapped[datetime | None]
    decided_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    objection_reason: Mapped[str | None] = mapped_column(sa.String(20))
    objection_note: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "audit_id"], ["duty_audits.tenant_id", "duty_audits.id"],
                                ondelete="CASCADE"),
        sa.CheckConstraint("decision in ('pending', 'accepted', 'objected')", name="decision"),
        sa.CheckConstraint("objection_reason is null or objection_reason in ('not-independent', 'competitor')",
                           name="objection_reason"),
    )


class AuditDocument(TenantScoped, db.Model):
    """A document shared for an audit: confidential, sealed in storage, marked on every view."""

    __tablename__ = "duty_audit_documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    audit_id: Mapped[uuid.UUID]
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    # The document's own AES-256 key, encrypted under the tenant's data key: key rotation
    # re-encrypts this small value, and destroying the tenant's keys makes the file unreadable.
    content_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    uploaded_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "audit_id"], ["duty_audits.tenant_id", "duty_audits.id"],
                                ondelete="CASCADE"),
    )


# --- supervisory authority inspections [DPA-4.3.3] ---------------------------------------------


class Inspection(db.Model):
    """An authority's inspection of the processor; it may concern many tenants, so it is the
    platform's row, and each affected tenant has its own link row."""

    __tablename__ = "duty_inspections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    ref: Mapped[str] = mapped_column(sa.String(20), unique=True)
    authority: Mapped[str] = mapped_column(sa.String(200))
    scope: Mapped[str] = mapped_column(sa.Text)
    affects_all: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    result: Mapped[str | None] = mapped_column(sa.Text)
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[datetime | None]
    recorded_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))

    __table_args__ = (sa.CheckConstraint("status in ('open', 'closed')", name="status"),)


class InspectionTenant(TenantScoped, db.Model):
    __tablename__ = "duty_inspection_tenants"

    inspection_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("duty_inspections.id", ondelete="CASCADE"))
    told_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id", "inspection_id"),)


class InspectionEvent(db.Model):
    """The timeline both sides see: opening, each update, the result."""

    __tablename__ = "duty_inspection_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    inspection_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("duty_inspections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))

    __table_args__ = (sa.CheckConstraint("kind in ('opened', 'update', 'result')", name="kind"),)


# --- notices sent for a duty, so staff can follow their delivery --------------------------------


class DutyNotice(db.Model):
    __tablename__ = "duty_notices"

    notification_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True)
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[uuid.UUID]

    __table_args__ = (sa.Index("ix_duty_notices_subject", "subject_type", "subject_id"),)


# --- cooperation requests [DPA-3.2] -------------------------------------------------------------

COOPERATION_TOPICS = {
    "dsr": "A data subject request",
    "incident": "A personal-data incident",
    "dpia": "A data protection impact assessment",
    "authority": "Dealings with a supervisory authority",
}


class CooperationRequest(TenantScoped, db.Model):
    __tablename__ = "duty_cooperation_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    ref: Mapped[str] = mapped_column(sa.String(20))
    # "to-processor": the tenant asks the operator; "to-controller": the operator asks the tenant.
    direction: Mapped[str] = mapped_column(sa.String(16))
    topic: Mapped[str] = mapped_column(sa.String(10))
    subject: Mapped[str] = mapped_column(sa.String(200))
    details: Mapped[str] = mapped_column(sa.Text)
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    opened_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    opened_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    remind_first_at: Mapped[datetime]
    remind_second_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    reminded_first_at: Mapped[datetime | None]
    reminded_second_at: Mapped[datetime | None]
    overdue_flagged_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    answered_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "ref"),
        sa.CheckConstraint("direction in ('to-processor', 'to-controller')", name="direction"),
        sa.CheckConstraint("topic in ('dsr', 'incident', 'dpia', 'authority')", name="topic"),
    )

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.answered_at is None and (now or clock.now()) >= clock.aware(self.due_at)


# --- records of processing [ROPA-processor, ROPA-controller, TT-inventory] ---------------------

LEGAL_BASES = {
    "consent": "Consent (art. 6(1)(a))",
    "contract": "Performance of a contract (art. 6(1)(b))",
    "legal-obligation": "Legal obligation (art. 6(1)(c))",
    "vital-interests": "Vital interests (art. 6(1)(d))",
    "public-task": "Public task (art. 6(1)(e))",
    "legitimate-interests": "Legitimate interests (art. 6(1)(f))",
}


class ProcessingActivity(TenantScoped, db.Model):
    """The controller's own record of one processing activity (GDPR art. 30(1))."""

    __tablename__ = "duty_processing_activities"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    purpose: Mapped[str] = mapped_column(sa.Text)
    legal_basis: Mapped[str] = mapped_column(sa.String(24))
    data_categories: Mapped[str] = mapped_column(sa.Text)
    subject_categories: Mapped[str] = mapped_column(sa.Text)
    recipients: Mapped[str] = mapped_column(sa.Text)
    retention: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint(
            "legal_basis in ('consent', 'contract', 'legal-obligation', 'vital-interests', 'public-task', "
            "'legitimate-interests')", name="legal_basis"),
    )


class RecordSnapshot(TenantScoped, db.Model):
    """The processor's record for one tenant as generated at one moment; the sweep makes sure one
    is never older than 30 days."""

    __tablename__ = "duty_record_snapshots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    generated_at: Mapped[datetime] = mapped_column(default=clock.now)
    trigger: Mapped[str] = mapped_column(sa.String(10))
    content: Mapped[dict] = mapped_column(sa.JSON)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.Index("ix_duty_record_snapshots_tenant_generated", "tenant_id", "generated_at"),
    )
