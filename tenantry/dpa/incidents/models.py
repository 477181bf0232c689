"""Incidents and the breach register [DPA-4.3.6, DPA-4.3.7, TEK-breach-content, TEK-breach-plan].

Every table here is append-only: the application role may SELECT and INSERT, never UPDATE or
DELETE. What changes over an incident's life (notices sent, reminders, flags, plan, solution,
corrections) is a new row, so the register shows what was known when, and nothing can be
quietly rewritten. Acknowledgement and delivery live on the platform's Notification rows that
each notice links to.
"""

from __future__ import annotations

import enum
import json
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.crypto import fields
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
    # The text fields are mapped under a leading underscore: read them through the properties
    # below, which open a tenant's sealed report (see `sealed_report`).
    _title: Mapped[str] = mapped_column("title", sa.String(200))
    nature_confidentiality: Mapped[bool] = mapped_column(default=False)
    nature_integrity: Mapped[bool] = mapped_column(default=False)
    nature_availability: Mapped[bool] = mapped_column(default=False)
    _description: Mapped[str] = mapped_column("description", sa.Text, default="")
    _systems: Mapped[str] = mapped_column("systems", sa.Text, default="")
    _subject_categories: Mapped[str] = mapped_column("subject_categories", sa.Text, default="")
    subjects_approx: Mapped[int | None]
    _record_categories: Mapped[str] = mapped_column("record_categories", sa.Text, default="")
    records_approx: Mapped[int | None]
    _consequences: Mapped[str] = mapped_column("consequences", sa.Text, default="")
    _measures_taken: Mapped[str] = mapped_column("measures_taken", sa.Text, default="")
    _measures_proposed: Mapped[str] = mapped_column("measures_proposed", sa.Text, default="")
    _contact: Mapped[str] = mapped_column("contact", sa.String(400))
    # A tenant's own report is personal-data-bearing: its text fields are a JSON object encrypted
    # under the reporting tenant's data key (bound to tenant, table, column and row), and the plain
    # columns hold nothing of it. Crypto-shredding the tenant makes the text unreadable.
    sealed_report: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
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

    def _opened(self) -> dict[str, str]:
        cached = self.__dict__.get("_opened_report")
        if cached is None:
            cached = open_report(self)
            self.__dict__["_opened_report"] = cached
        return cached

    def _text(self, name: str) -> str:
        if self.sealed_report is None:
            return getattr(self, "_" + name) or ""
        return self._opened().get(name, "")

    title = property(lambda self: self._text("title"))
    description = property(lambda self: self._text("description"))
    systems = property(lambda self: self._text("systems"))
    subject_categories = property(lambda self: self._text("subject_categories"))
    record_categories = property(lambda self: self._text("record_categories"))
    consequences = property(lambda self: self._text("consequences"))
    measures_taken = property(lambda self: self._text("measures_taken"))
    measures_proposed = property(lambda self: self._text("measures_proposed"))
    contact = property(lambda self: self._text("contact"))

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


SEALED_FIELDS = ("title", "description", "systems", "subject_categories", "record_categories", "consequences",
                 "measures_taken", "measures_proposed", "contact")
SEALED_WHERE = {"table": "incidents", "column": "sealed_report"}
UNREADABLE = "[unreadable: the reporting tenant's key is no longer available]"


def seal_report(incident_id: uuid.UUID, tenant_id: uuid.UUID, texts: dict[str, str]) -> bytes:
    payload = json.dumps({k: texts.get(k, "") for k in SEALED_FIELDS}, ensure_ascii=False)
    return fields.encrypt(payload, tenant_id=tenant_id, row_id=incident_id, **SEALED_WHERE)


def open_report(incident: Incident) -> dict[str, str]:
    """The tenant's own words, for the DPO desk and the tenant's register. A report whose tenant
    is gone or shredded reads as unreadable rather than failing the page."""
    if incident.reported_by_tenant_id is None:
        return {k: UNREADABLE for k in SEALED_FIELDS}
    try:
        text = fields.decrypt(incident.sealed_report, tenant_id=incident.reported_by_tenant_id,
                              row_id=incident.id, **SEALED_WHERE)
    except fields.FieldDecryptError:
        return {k: UNREADABLE for k in SEALED_FIELDS}
    return json.loads(text)


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
