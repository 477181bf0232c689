"""Data subject requests (GDPR arts. 12, 15-21): the request, its history and the recipients
to inform (art. 19).

What the controller was told about the person (the name, e-mail and phone searched, the
request's details), the reasons given and the response are personal data: they are
ciphertext under the tenant's key like the CRM's own columns (crm.models.Sealed), bound to
(tenant, table, column, row) and registered for key rotation. What stays in the clear is what
deadlines and lists need: the kind, the state and the dates.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped
from tenantry.tenants.crm.models import Sealed

ACCESS, PORTABILITY, RECTIFICATION, ERASURE, RESTRICTION, OBJECTION = (
    "access", "portability", "rectification", "erasure", "restriction", "objection")
KINDS = (ACCESS, PORTABILITY, RECTIFICATION, ERASURE, RESTRICTION, OBJECTION)
KIND_LABELS = {
    ACCESS: "Access (art. 15)",
    PORTABILITY: "Portability (art. 20)",
    RECTIFICATION: "Rectification (art. 16)",
    ERASURE: "Erasure (art. 17)",
    RESTRICTION: "Restriction of processing (art. 18)",
    OBJECTION: "Objection (art. 21)",
}
# Art. 19: the recipients are told of a rectification, erasure or restriction.
NOTIFY_KINDS = (RECTIFICATION, ERASURE, RESTRICTION)
OPEN, CLOSED = "open", "closed"
RECIPIENT_KINDS = ("api_client", "subprocessor", "member")


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class SubjectRequest(Sealed, TenantScoped, db.Model):
    __tablename__ = "subject_requests"
    ENCRYPTED = ("subject_name", "subject_email", "subject_phone", "details", "extension_reason", "response")

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(8), default=OPEN)
    # The person's contact record, once identified. A plain id, not a foreign key: the request
    # outlives its subject (an erasure deletes the contact, and the request stays as the record
    # of how it was answered), and a composite key cannot be set null without nulling tenant_id.
    contact_id: Mapped[uuid.UUID | None]
    subject_name: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    subject_email: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    subject_phone: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    details: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    # One calendar month after receipt [DSR-deadline]; three once extended.
    due_at: Mapped[datetime]
    extended_at: Mapped[datetime | None]
    extended_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    extension_reason: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    opened_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # When the request's own action was carried out (erased, restricted, objection recorded...).
    action_done_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    response: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # Stamped by the sweep (reminders.sweep) when the owners and admins were told, so that each
    # notice goes once: a reminder a week before the due date, and a notice once overdue.
    reminded_at: Mapped[datetime | None]
    overdue_notified_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint(f"kind in ({_in(KINDS)})", name="kind"),
        sa.CheckConstraint(f"status in ({_in((OPEN, CLOSED))})", name="status"),
        sa.CheckConstraint("due_at > received_at", name="due_after_received"),
        sa.Index("ix_subject_requests_tenant_status_due", "tenant_id", "status", "due_at"),
    )

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and (now or clock.now()) > self.due_at


class SubjectRequestEvent(Sealed, TenantScoped, db.Model):
    """One step of a request's history. `details` holds ids, field names and counts only; a
    reason or note written by a person is `note`, encrypted."""

    __tablename__ = "subject_request_events"
    ENCRYPTED = ("note",)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID]
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(32))
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    note: Mapped[bytes | None] = mapped_column(sa.LargeBinary)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "request_id"], ["subject_requests.tenant_id", "subject_requests.id"],
                                ondelete="CASCADE"),
        sa.Index("ix_subject_request_events_tenant_request", "tenant_id", "request_id"),
    )


class SubjectRequestRecipient(TenantScoped, db.Model):
    """Someone the person's data went to, to be told of a rectification, erasure or restriction
    [DSR-notify]: an API client with CRM scopes, an active subprocessor, or a member who exported
    the data recently. Named by id; shown with its current name."""

    __tablename__ = "subject_request_recipients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(sa.String(16))
    ref_id: Mapped[str] = mapped_column(sa.String(64))
    # Why they are listed, without personal data: "crm:read crm:write", "active subprocessor",
    # "contacts CSV export".
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    listed_at: Mapped[datetime] = mapped_column(default=clock.now)
    told_at: Mapped[datetime | None]
    told_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "request_id", "kind", "ref_id"),
        sa.ForeignKeyConstraint(["tenant_id", "request_id"], ["subject_requests.tenant_id", "subject_requests.id"],
                                ondelete="CASCADE"),
        sa.CheckConstraint(f"kind in ({_in(RECIPIENT_KINDS)})", name="kind"),
    )
