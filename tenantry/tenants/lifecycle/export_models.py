"""Exports and backups of a tenant: one row per archive, the archive itself sealed in storage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
EXPORT_STATUSES = (QUEUED, RUNNING, DONE, FAILED)


class Backup(TenantScoped, db.Model):
    """The nightly full backup of one tenant for one UTC day; (tenant, day) is unique, which is
    what makes the nightly sweep step idempotent."""

    __tablename__ = "backups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    day: Mapped[date]
    status: Mapped[str] = mapped_column(sa.String(10), default=RUNNING)
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    row_counts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "day"),
        sa.CheckConstraint("status in ('running', 'done', 'failed')", name="status"),
    )


class Export(TenantScoped, db.Model):
    """A full export asked for by an owner, an admin, an API client or staff (from a backup)."""

    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(sa.String(10), default=QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    # Who asked: the kind of principal and its id (a user, an API client, staff), no names.
    requested_by_type: Mapped[str] = mapped_column(sa.String(12))
    requested_by_id: Mapped[str | None] = mapped_column(sa.String(64))
    backup_id: Mapped[uuid.UUID | None]
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    row_counts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Set when the file is written: the download link works until then (7 days).
    expires_at: Mapped[datetime | None]
    # When the sweep removed the expired file; the row stays as a record of the export.
    file_deleted_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        # A backup-based export keeps its backup only while the backup exists.
        sa.ForeignKeyConstraint(["tenant_id", "backup_id"], ["backups.tenant_id", "backups.id"]),
        sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status"),
        sa.CheckConstraint("progress between 0 and 100", name="progress"),
        sa.Index("ix_exports_tenant_created", "tenant_id", "created_at"),
    )

    @property
    def available(self) -> bool:
        return (self.status == DONE and self.file_deleted_at is None and self.expires_at is not None
                and clock.now() < self.expires_at)
