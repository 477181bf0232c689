"""Tables of the tenant lifecycle: cancellations, their reminders, expedited deletion and
backup-data requests (all tenant-owned, so the purge removes them with the rest), and the
tombstone that outlives the tenant's data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

REMINDER_DAYS = (30, 7, 1)


class Cancellation(TenantScoped, db.Model):
    """One cancellation of the service; a reactivation closes it, a later one opens another."""

    __tablename__ = "tenant_cancellations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cancelled_at: Mapped[datetime] = mapped_column(default=clock.now)
    deletion_due_at: Mapped[datetime]
    # "owner" through the settings page, "staff" through the CLI on the owner's written request.
    channel: Mapped[str] = mapped_column(sa.String(10))
    cancelled_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    reference: Mapped[str | None] = mapped_column(sa.String(120))
    reactivated_at: Mapped[datetime | None]
    reactivated_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("channel in ('owner', 'staff')", name="channel"),
    )


class CancellationReminder(TenantScoped, db.Model):
    """Marker that the e-mail of one cancellation at one point was sent: a sweep sends each once."""

    __tablename__ = "tenant_cancellation_reminders"

    cancellation_id: Mapped[uuid.UUID]
    # 0 is the notice at cancellation itself; 30, 7 and 1 are days before deletion.
    days_before: Mapped[int]
    sent_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.PrimaryKeyConstraint("tenant_id", "cancellation_id", "days_before"),
        sa.ForeignKeyConstraint(["tenant_id", "cancellation_id"],
                                ["tenant_cancellations.tenant_id", "tenant_cancellations.id"], ondelete="CASCADE"),
    )


class DeletionRequest(TenantScoped, db.Model):
    """A written request to delete everything early [TEK-withdraw]."""

    __tablename__ = "tenant_deletion_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    filed_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    reference: Mapped[str | None] = mapped_column(sa.String(120))
    scheduled_for: Mapped[datetime]

    __table_args__ = (sa.UniqueConstraint("tenant_id", "id"),)


class BackupDataRequest(TenantScoped, db.Model):
    """An owner's request, within the 80 days, for the data held in backups [DPA-4.10]."""

    __tablename__ = "tenant_backup_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    fulfilled_at: Mapped[datetime | None]
    fulfilled_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    backup_ref: Mapped[str | None] = mapped_column(sa.String(64))
    export_ref: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("status in ('open', 'fulfilled')", name="status"),
    )


class Tombstone(db.Model):
    """What remains of a deleted tenant: no personal data, only ids, a hash of the slug, dates
    and counts. Deliberately not tenant-owned: it must survive the purge of tenant rows, and it
    doubles as the purge's progress record, so a killed purge resumes where it stopped."""

    __tablename__ = "tenant_tombstones"

    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"), primary_key=True)
    slug_sha256: Mapped[str] = mapped_column(sa.String(64))
    tenant_created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    deletion_due_at: Mapped[datetime]
    purge_started_at: Mapped[datetime] = mapped_column(default=clock.now)
    certificate_sent_at: Mapped[datetime | None]
    files_deleted_at: Mapped[datetime | None]
    rows_deleted_at: Mapped[datetime | None]
    keys_destroyed_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    expedited: Mapped[bool] = mapped_column(default=False)
    # {"rows": {table: n}, "files": n, "keys": n, "audit_events_redacted": n, "accounts": n, ...}
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
