"""Full exports of a tenant [DPA-4.10, DSR-portability]: asked for by an owner or admin (or an
API client with scope `export`), written by a background job, kept sealed under the tenant's
key for 7 days, then removed by the sweep."""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa

from tenantry.platform import audit, clock, jobs, storage
from tenantry.platform.crypto import file_sealing
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, current_tenant, get_current_tenant, tenant_context

from . import archive
from .export_models import DONE, FAILED, QUEUED, RUNNING, Export

log = logging.getLogger(__name__)

DOWNLOAD_DAYS = 7
# A queued export not picked up for this long is queued again by the sweep (Redis was down).
REQUEUE_AFTER = timedelta(minutes=10)
SPOOL_BYTES = 16 * 1024 * 1024


def storage_key(tenant_id: uuid.UUID, export_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/exports/{export_id}.zip.enc"


def _principal(actor) -> tuple[str, str | None]:
    if actor is None:
        return "system", None
    kind = getattr(actor, "audit_actor_type", None) or ("staff" if getattr(actor, "is_staff", False) else "user")
    return kind, str(actor.id)


def request(*, requested_by=None, backup_id: uuid.UUID | None = None) -> Export:
    """Queue a full export of the current tenant; the job starts after the caller commits."""
    kind, who = _principal(requested_by)
    export_id = uuid.uuid4()
    export = Export(id=export_id, tenant_id=current_tenant.id, status=QUEUED, progress=0, requested_by_type=kind,
                    requested_by_id=who, backup_id=backup_id,
                    storage_key=storage_key(current_tenant.id, export_id))
    db.session.add(export)
    db.session.flush()
    audit.record("export.requested", actor=requested_by, actor_type=kind if requested_by is None else None,
                 tenant_id=export.tenant_id, target_type="export", target_id=export.id,
                 details={"source": "backup" if backup_id else "live"})
    _enqueue(export)
    return export


def _enqueue(export: Export) -> None:
    jobs.enqueue("exports", "tenantry.tenants.lifecycle.export:run", tenant_id=export.tenant_id,
                 export_id=str(export.id))


def get(export_id: uuid.UUID) -> Export | None:
    return db.session.get(Export, export_id)


def recent(limit: int = 20) -> list[Export]:
    return list(db.session.execute(sa.select(Export).order_by(Export.created_at.desc(), Export.id)
                                   .limit(limit)).scalars())


def _set_progress(export_id: uuid.UUID, tenant_id: uuid.UUID, done: int, total: int) -> None:
    """Progress goes through its own short transaction so the page shows it while the export's
    reads continue; nothing else is committed half-way."""
    percent = min(99, done * 100 // max(1, total))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT set_config('tenantry.tenant_id', :tid, true)"), {"tid": str(tenant_id)})
        conn.execute(sa.update(Export.__table__).where(Export.__table__.c.tenant_id == tenant_id,
                                                       Export.__table__.c.id == export_id)
                     .values(progress=percent))


def run(export_id: str) -> None:
    """The job: write the archive (or copy the chosen backup's), seal it into storage."""
    export = get(uuid.UUID(export_id))
    if export is None or export.status == DONE:
        return  # gone, or a retried job whose work is done
    tenant = get_current_tenant()
    eid, tid = export.id, tenant.id
    export.status, export.started_at, export.progress, export.error = RUNNING, clock.now(), 0, None
    db.session.commit()
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            if export.backup_id is not None:
                from . import backups

                counts = backups.copy_plain(export.backup_id, spool)
            else:
                written = archive.write(tenant, spool, progress=lambda d, t: _set_progress(eid, tid, d, t))
                counts = written.row_counts
            size = spool.tell()
            spool.seek(0)
            db.session.commit()  # end the long read before writing (SQLite: one writer)
            storage.storage().put(export.storage_key, file_sealing.seal_stream(
                spool, tenant_id=tenant.id, purpose=export.storage_key))
    except Exception as exc:
        db.session.rollback()
        export = get(uuid.UUID(export_id))
        export.status, export.error, export.finished_at = FAILED, type(exc).__name__, clock.now()
        audit.record("export.completed", actor_type="system", tenant_id=export.tenant_id, target_type="export",
                     target_id=export.id, outcome="failure", details={"error": type(exc).__name__})
        db.session.commit()
        raise
    export = get(uuid.UUID(export_id))
    now = clock.now()
    export.status, export.progress, export.size_bytes, export.row_counts = DONE, 100, size, counts
    export.finished_at, export.expires_at = now, now + timedelta(days=DOWNLOAD_DAYS)
    audit.record("export.completed", actor_type="system", tenant_id=export.tenant_id, target_type="export",
                 target_id=export.id, details={"row_counts": counts, "bytes": size})


class NotAvailable(LookupError):
    """The export is not ready, failed, or its 7 days are over."""


def download(export: Export, *, actor=None) -> Iterator[bytes]:
    """The ZIP, decrypted chunk by chunk as it is sent; the read is audited first."""
    if not export.available:
        raise NotAvailable(str(export.id))
    audit.record_read("export.downloaded", actor=actor, tenant_id=export.tenant_id, target_type="export",
                      target_ids=[export.id])
    key, tenant_id = export.storage_key, export.tenant_id
    sealed = storage.storage().open(key)

    def stream() -> Iterator[bytes]:
        try:
            yield from file_sealing.open_stream(sealed, tenant_id=tenant_id, purpose=key)
        finally:
            sealed.close()

    return stream()


def filename(export: Export, tenant: Tenant) -> str:
    return f"tenantry-export-{tenant.slug}-{export.created_at:%Y%m%d-%H%M}.zip"


def sweep(as_of: datetime) -> int:
    """Expired exports lose their file (the row stays as the record); stuck queued ones are
    queued again. Idempotent."""
    changed = 0
    with all_tenants():
        expired = db.session.execute(sa.select(Export).where(
            Export.status == DONE, Export.file_deleted_at.is_(None), Export.expires_at <= as_of)).scalars().all()
        stuck = db.session.execute(sa.select(Export).where(
            Export.status == QUEUED, Export.created_at <= as_of - REQUEUE_AFTER)).scalars().all()
        tenants = {t.id: t for t in db.session.execute(sa.select(Tenant).where(
            Tenant.id.in_({e.tenant_id for e in [*expired, *stuck]}))).scalars()}
    for export in expired:
        with tenant_context(tenants[export.tenant_id]):
            storage.storage().delete(export.storage_key)
            export.file_deleted_at = as_of
            audit.record("export.expired", actor_type="system", tenant_id=export.tenant_id, target_type="export",
                         target_id=export.id)
        changed += 1
    for export in stuck:
        _enqueue(export)
        changed += 1
    return changed
