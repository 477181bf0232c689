"""Within the 80 days an owner may ask for the data held in backups; staff fulfil the request
with an export built from a chosen backup [DPA-4.10] (`backups.export_from_backup`)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.dpa import recipients
from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context
from tenantry.tenants.lifecycle import backups
from tenantry.tenants.lifecycle.cancel_models import BackupDataRequest
from tenantry.tenants.lifecycle.cancellation import LifecycleError


def request_backup_data(tenant: Tenant, *, actor, note: str) -> BackupDataRequest:
    if tenant.status != TenantStatus.CANCELLED:
        raise LifecycleError("Backed-up data can be requested once the workspace is cancelled, until its deletion.")
    with tenant_context(tenant):
        row = BackupDataRequest(tenant_id=tenant.id, requested_by_user_id=actor.id, note=note.strip())
        db.session.add(row)
        db.session.flush()
        audit.record("tenant.backup-data-requested", actor=actor, tenant_id=tenant.id,
                     target_type="backup_request", target_id=row.id)
    notify.create("lifecycle.backup-request", to_email=recipients.dpo_email(), tenant_id=None,
                  subject=f"Backup data requested by tenant {tenant.id}",
                  body=(f"An owner of tenant {tenant.id} asked for the data held in backups. Fulfil it before "
                        f"{tenant.deletion_due_at:%Y-%m-%d} from the console: {recipients.base_url()}/admin/lifecycle/"))
    return row


def for_tenant(tenant: Tenant) -> list[BackupDataRequest]:
    with tenant_context(tenant):
        return list(db.session.execute(
            sa.select(BackupDataRequest).order_by(BackupDataRequest.requested_at.desc())).scalars())


def open_requests() -> list[tuple[BackupDataRequest, Tenant]]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(BackupDataRequest, Tenant).join(Tenant, Tenant.id == BackupDataRequest.tenant_id)
            .where(BackupDataRequest.status == "open").order_by(BackupDataRequest.requested_at)
        ).tuples())


def get(request_id: uuid.UUID) -> tuple[BackupDataRequest, Tenant] | None:
    with all_tenants():
        return db.session.execute(
            sa.select(BackupDataRequest, Tenant).join(Tenant, Tenant.id == BackupDataRequest.tenant_id)
            .where(BackupDataRequest.id == request_id)
        ).tuples().one_or_none()


def fulfil(row: BackupDataRequest, tenant: Tenant, *, backup_ref: str, staff) -> str:
    """Start the export from the chosen backup and tell the owners; the caller commits."""
    if row.status != "open":
        raise LifecycleError("This request is already fulfilled.")
    if tenant.status != TenantStatus.CANCELLED:
        raise LifecycleError("The workspace is no longer in its 80 days after cancellation.")
    backup = backups.find(tenant, backup_ref)
    if backup is None:
        raise LifecycleError("Choose one of the tenant's completed backups.")
    with tenant_context(tenant):
        backup_id = backup.id
    export = backups.export_from_backup(tenant, backup_id, requested_by=staff)
    with tenant_context(tenant):
        export_ref = str(export.id)
        row.status = "fulfilled"
        row.fulfilled_at = clock.now()
        row.fulfilled_by_staff_id = staff.id
        row.backup_ref = str(backup_id)
        row.export_ref = export_ref[:64]
        audit.record("tenant.backup-data-fulfilled", actor=staff, tenant_id=tenant.id,
                     target_type="backup_request", target_id=row.id, details={"backup": row.backup_ref})
        for owner in recipients.owners(tenant):
            notify.create("lifecycle.backup-data-ready", recipient=owner, tenant_id=tenant.id, in_app=True,
                          subject=f"The data from backups of {tenant.name} is ready",
                          body=(f"The export you asked for, built from a backup, is ready in the workspace's "
                                f"exports: {recipients.base_url()}/t/{tenant.slug}/. It stays available until "
                                f"the deletion on {tenant.deletion_due_at:%Y-%m-%d}."))
    return export_ref
