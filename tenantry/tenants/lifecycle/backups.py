"""Daily full backups of every active tenant [DPA-B.backup], sealed under the tenant's key,
kept TENANTRY_BACKUP_RETENTION_DAYS (30) days, restorable into a new tenant.

The nightly sweep step takes at most one backup per tenant per UTC day (the unique
(tenant, day) row makes a second run a no-op; a run killed half-way leaves a `running` row
that the next run redoes). A backup taken on day D is deleted on day D + retention + 1.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import date, datetime, timedelta
from typing import IO

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import audit, clock, storage
from tenantry.platform.crypto import file_sealing
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context

from . import archive
from .export_models import DONE, FAILED, RUNNING, Backup, Export

log = logging.getLogger(__name__)


def storage_key(tenant_id: uuid.UUID, day: date, backup_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/backups/{day.isoformat()}-{backup_id}.zip.enc"


def retention_days() -> int:
    return current_app.extensions["tenantry.settings"].backup_retention_days


def take(tenant: Tenant, day: date) -> Backup:
    """The backup of `tenant` for `day`, taken now unless it is already done (idempotent)."""
    with tenant_context(tenant):
        backup = db.session.execute(sa.select(Backup).where(Backup.day == day)).scalar_one_or_none()
        if backup is not None and backup.status == DONE:
            return backup
        if backup is None:
            backup_id = uuid.uuid4()
            backup = Backup(id=backup_id, tenant_id=tenant.id, day=day, status=RUNNING,
                            storage_key=storage_key(tenant.id, day, backup_id))
            db.session.add(backup)
        backup.status = RUNNING
        db.session.commit()
    with tenant_context(tenant):
        backup = db.session.get(Backup, backup.id)
        key, backup_id = backup.storage_key, backup.id
        try:
            with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
                written = archive.write(tenant, spool)
                size = spool.tell()
                spool.seek(0)
                db.session.commit()
                storage.storage().put(key, file_sealing.seal_stream(spool, tenant_id=tenant.id, purpose=key))
        except Exception as exc:
            db.session.rollback()
            backup = db.session.get(Backup, backup_id)
            backup.status, backup.finished_at = FAILED, clock.now()
            audit.record("backup.completed", actor_type="system", tenant_id=tenant.id, target_type="backup",
                         target_id=backup_id, outcome="failure", details={"error": type(exc).__name__})
            db.session.commit()
            raise
        backup = db.session.get(Backup, backup_id)
        backup.status, backup.size_bytes, backup.row_counts = DONE, size, written.row_counts
        backup.finished_at = clock.now()
        audit.record("backup.completed", actor_type="system", tenant_id=tenant.id, target_type="backup",
                     target_id=backup_id, details={"day": day.isoformat(), "row_counts": written.row_counts})
        db.session.commit()
    return backup


def nightly(as_of: datetime) -> int:
    """Sweep step: today's backup of every active tenant, then retention. Returns how many
    backups were taken or deleted."""
    day = as_of.date()
    with all_tenants():
        done = set(db.session.execute(sa.select(Backup.tenant_id).where(Backup.day == day,
                                                                         Backup.status == DONE)).scalars())
        due = [t for t in db.session.execute(sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE.value)
                                             .order_by(Tenant.created_at, Tenant.id)).scalars()
               if t.id not in done]
    taken = 0
    for tenant in due:
        try:
            take(tenant, day)
            taken += 1
        except Exception:
            # One tenant's failure must not cost the others their backup; the next run retries.
            log.exception("backup of tenant %s failed", tenant.id)
    return taken + expire(as_of)


def expire(as_of: datetime) -> int:
    """Delete backups older than the retention: on day D + retention + 1, not before."""
    oldest_kept = as_of.date() - timedelta(days=retention_days())
    with all_tenants():
        old = [(b.id, b.tenant_id) for b in db.session.execute(
            sa.select(Backup).where(Backup.day < oldest_kept)).scalars()]
        tenants = {t.id: t for t in db.session.execute(
            sa.select(Tenant).where(Tenant.id.in_({tid for _, tid in old}))).scalars()}
    for backup_id, tenant_id in old:
        with tenant_context(tenants[tenant_id]):
            backup = db.session.get(Backup, backup_id)
            storage.storage().delete(backup.storage_key)
            # Exports made from it keep their own file; only the link to the backup goes.
            db.session.execute(sa.update(Export).where(Export.tenant_id == tenant_id,
                                                       Export.backup_id == backup_id).values(backup_id=None))
            audit.record("backup.expired", actor_type="system", tenant_id=tenant_id, target_type="backup",
                         target_id=backup_id, details={"day": backup.day.isoformat()})
            db.session.delete(backup)
        db.session.commit()
    return len(old)


def available(tenant: Tenant) -> list[Backup]:
    with tenant_context(tenant):
        return list(db.session.execute(sa.select(Backup).where(Backup.status == DONE)
                                       .order_by(Backup.day.desc())).scalars())


def find(tenant: Tenant, backup_ref: str) -> Backup | None:
    """A backup by its id or by its day (YYYY-MM-DD)."""
    with tenant_context(tenant):
        stmt = sa.select(Backup).where(Backup.status == DONE)
        try:
            stmt = stmt.where(Backup.id == uuid.UUID(backup_ref))
        except ValueError:
            try:
                stmt = stmt.where(Backup.day == date.fromisoformat(backup_ref))
            except ValueError:
                return None
        return db.session.execute(stmt).scalar_one_or_none()


def copy_plain(backup_id: uuid.UUID, out: IO[bytes]) -> dict:
    """Decrypt the backup into `out` (inside the backup's tenant context); returns its row counts."""
    backup = db.session.get(Backup, backup_id)
    if backup is None or backup.status != DONE:
        raise LookupError(f"backup {backup_id} is not available")
    sealed = storage.storage().open(backup.storage_key)
    try:
        for chunk in file_sealing.open_stream(sealed, tenant_id=backup.tenant_id, purpose=backup.storage_key):
            out.write(chunk)
    finally:
        sealed.close()
    return dict(backup.row_counts or {})


def export_from_backup(tenant: Tenant, backup_id: uuid.UUID, *, requested_by=None) -> Export:
    """A downloadable export built from a chosen backup: how staff fulfil an owner's request for
    the backed-up data within the 80 days after cancellation [DPA-4.10]. The caller commits;
    the export job then copies the backup into a 7-day export."""
    from . import export

    with tenant_context(tenant):
        backup = db.session.get(Backup, backup_id)
        if backup is None or backup.status != DONE:
            raise LookupError("no such backup of this tenant")
        return export.request(requested_by=requested_by, backup_id=backup.id)
