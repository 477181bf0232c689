"""Expedited deletion on the customer's written request [TEK-withdraw]: the workspace is
cancelled (if it was not already) and its deletion brought forward to at most 5 working days
after the request, counted on the tenant's country's calendar. The deletion certificate that
the purge e-mails tells the owners when it is done."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.dpa import recipients
from tenantry.platform import audit, business_days, clock, notify
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, tenant_context
from tenantry.tenants.lifecycle import cancellation
from tenantry.tenants.lifecycle.cancel_models import DeletionRequest

WORKING_DAYS = 5


def pending(tenant: Tenant) -> DeletionRequest | None:
    with tenant_context(tenant):
        return db.session.execute(
            sa.select(DeletionRequest).order_by(DeletionRequest.requested_at.desc()).limit(1)
        ).scalar_one_or_none()


def request_deletion(tenant: Tenant, *, actor, reference: str | None = None, by_staff: bool = False) -> DeletionRequest:
    """File the request (an owner, or staff on the owner's behalf); the caller commits."""
    if tenant.status == TenantStatus.DELETED:
        raise cancellation.LifecycleError("This workspace is already deleted.")
    if pending(tenant) is not None:
        raise cancellation.LifecycleError("Early deletion has already been requested.")
    now = clock.now()
    due = business_days.add_business_days(now, WORKING_DAYS, tenant.country)
    staff = by_staff or (actor is not None and actor.is_staff)
    if tenant.status == TenantStatus.ACTIVE:
        cancellation.cancel(tenant, actor=actor, channel="staff" if staff else "owner", reference=reference,
                            deletion_due_at=due)
    else:
        cancellation.reschedule(tenant, due)
    with tenant_context(tenant):
        row = DeletionRequest(tenant_id=tenant.id, requested_at=now, reference=reference,
                              scheduled_for=tenant.deletion_due_at,
                              requested_by_user_id=None if staff or actor is None else actor.id,
                              filed_by_staff_id=actor.id if staff and actor is not None else None)
        db.session.add(row)
        db.session.flush()
        audit.record("tenant.deletion-requested", actor=actor, tenant_id=tenant.id, target_type="tenant",
                     target_id=tenant.id, details={"scheduled_for": row.scheduled_for.isoformat(),
                                                   "reference": reference, "filed_by_staff": staff})
        for owner in recipients.owners(tenant):
            notify.create(
                "lifecycle.deletion-requested", recipient=owner, tenant_id=tenant.id, in_app=True,
                subject=f"{tenant.name} will be deleted on {row.scheduled_for:%Y-%m-%d}",
                body=(f"Early deletion of the workspace {tenant.name} was requested in writing on "
                      f"{now:%Y-%m-%d %H:%M} UTC{' by our staff on your behalf' if staff else ''}. "
                      f"All of its data, files, backups and keys will be deleted on "
                      f"{row.scheduled_for:%Y-%m-%d %H:%M} UTC, within {WORKING_DAYS} working days. "
                      "You will receive a deletion certificate when it is done. Until then the workspace "
                      "is read-only and you can still export its data."),
            )
    return row
