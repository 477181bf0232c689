"""Supervisory authority inspections [DPA-4.3.3]: the affected tenants are told at once, and of
every update and the result, by e-mail and in the product; both sides see one timeline."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants

from . import notices
from .models import Inspection, InspectionEvent, InspectionTenant


class InspectionError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _next_ref() -> str:
    count = db.session.execute(sa.select(sa.func.count()).select_from(Inspection)).scalar_one()
    return f"INS-{count + 1:04d}"


def affected_tenant_ids(inspection: Inspection) -> list[uuid.UUID]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(InspectionTenant.tenant_id).where(InspectionTenant.inspection_id == inspection.id)
        ).scalars())


def _tell(inspection: Inspection, kind: str, subject: str, body: str) -> None:
    for tenant_id in affected_tenant_ids(inspection):
        notices.tell_tenant(tenant_id, kind, subject, body, "inspection", inspection.id)


def record(staff, *, authority: str, scope: str, tenant_ids: list[uuid.UUID] | None) -> Inspection:
    """`tenant_ids` None means every active tenant."""
    with all_tenants():
        query = sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE)
        if tenant_ids is not None:
            if not tenant_ids:
                raise InspectionError("Choose the affected tenants, or all tenants.", "tenants")
            query = query.where(Tenant.id.in_(tenant_ids))
        tenants = list(db.session.execute(query.order_by(Tenant.slug)).scalars())
        if tenant_ids is not None and len(tenants) != len(set(tenant_ids)):
            raise InspectionError("One of the chosen tenants is not an active tenant.", "tenants")
        inspection = Inspection(id=new_id(), ref=_next_ref(), authority=authority.strip(), scope=scope.strip(),
                                affects_all=tenant_ids is None, recorded_by_staff_id=staff.id)
        db.session.add(inspection)
        db.session.flush()
        for tenant in tenants:
            db.session.add(InspectionTenant(tenant_id=tenant.id, inspection_id=inspection.id))
        db.session.add(InspectionEvent(inspection_id=inspection.id, kind="opened", staff_id=staff.id,
                                       body=f"{inspection.authority} opened an inspection. Scope: {inspection.scope}"))
        audit.record("inspection.recorded", actor=staff, target_type="inspection", target_id=inspection.id,
                     details={"ref": inspection.ref, "tenants": len(tenants)})
        db.session.flush()
        _tell(inspection, "inspection.opened",
              f"Supervisory authority inspection {inspection.ref}",
              f"{inspection.authority} has opened an inspection of our processing that concerns your "
              f"workspace.\n\nScope: {inspection.scope}\n\nWe will tell you of its progress and its result.")
    return inspection


def add_update(inspection: Inspection, staff, text: str) -> InspectionEvent:
    if inspection.status != "open":
        raise InspectionError("This inspection is closed.", "body")
    event = InspectionEvent(inspection_id=inspection.id, kind="update", body=text.strip(), staff_id=staff.id)
    db.session.add(event)
    with all_tenants():
        audit.record("inspection.updated", actor=staff, target_type="inspection", target_id=inspection.id,
                     details={"ref": inspection.ref})
        _tell(inspection, "inspection.update", f"Inspection {inspection.ref}: an update",
              f"Update on {inspection.authority}'s inspection {inspection.ref}:\n\n{event.body}")
    return event


def close_with_result(inspection: Inspection, staff, result: str) -> InspectionEvent:
    if inspection.status != "open":
        raise InspectionError("This inspection is already closed.", "body")
    inspection.status = "closed"
    inspection.closed_at = clock.now()
    inspection.result = result.strip()
    event = InspectionEvent(inspection_id=inspection.id, kind="result", body=inspection.result, staff_id=staff.id)
    db.session.add(event)
    with all_tenants():
        audit.record("inspection.closed", actor=staff, target_type="inspection", target_id=inspection.id,
                     details={"ref": inspection.ref})
        _tell(inspection, "inspection.result", f"Inspection {inspection.ref}: the result",
              f"{inspection.authority}'s inspection {inspection.ref} has ended.\n\nResult: {inspection.result}")
    return event


def timeline(inspection: Inspection) -> list[InspectionEvent]:
    return list(db.session.execute(
        sa.select(InspectionEvent).where(InspectionEvent.inspection_id == inspection.id)
        .order_by(InspectionEvent.created_at,
                  sa.case({"opened": 0, "update": 1, "result": 2}, value=InspectionEvent.kind))
    ).scalars())


def for_tenant(tenant_id: uuid.UUID) -> list[Inspection]:
    return list(db.session.execute(
        sa.select(Inspection).join(InspectionTenant, InspectionTenant.inspection_id == Inspection.id)
        .where(InspectionTenant.tenant_id == tenant_id).order_by(Inspection.opened_at.desc())
    ).scalars())


def get_for_tenant(tenant_id: uuid.UUID, inspection_id: uuid.UUID) -> Inspection | None:
    return db.session.execute(
        sa.select(Inspection).join(InspectionTenant, InspectionTenant.inspection_id == Inspection.id)
        .where(InspectionTenant.tenant_id == tenant_id, Inspection.id == inspection_id)
    ).scalar_one_or_none()
