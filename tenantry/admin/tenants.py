"""Tenants in the operator's console: business facts only, never a tenant's personal data.

Platform admins see every tenant: status, plan, dates, how many members and records (counted
in SQL, nothing decrypted) and which key versions it has: retired ones (nothing uses them) are
left out, and a decrypt-only one says what still uses it. Support sees only the tenants whose
live grant names them, with a link into the workspace [DPA-4.1, DPA-4.3.2, TT-least-privilege].
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import abort, render_template
from flask_login import current_user

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.platform.crypto import keyring
from tenantry.platform.crypto.keyring import TenantKey
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, StaffRole
from tenantry.platform.tenancy import Tenant, all_tenants
from tenantry.tenants import support_grants
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal

bp = staff_blueprint("admin_tenants", __name__, url_prefix="/admin/tenants")

RECORD_MODELS = (("contacts", Contact), ("companies", Company), ("deals", Deal), ("activities", Activity))


@dataclass
class TenantFacts:
    tenant: Tenant
    members: int = 0
    records: dict[str, int] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    @property
    def cancelled_at(self) -> datetime | None:
        return getattr(self.tenant, "cancelled_at", None)

    @property
    def deletion_due_at(self) -> datetime | None:
        return getattr(self.tenant, "deletion_due_at", None)


def _counts(model, tenant_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not tenant_ids:
        return {}
    rows = db.session.execute(
        sa.select(model.tenant_id, sa.func.count()).where(model.tenant_id.in_(tenant_ids)).group_by(model.tenant_id)
    ).all()
    return dict(rows)


def facts(tenants: list[Tenant]) -> list[TenantFacts]:
    """Counts and key versions of these tenants: a deliberate cross-tenant read of numbers only."""
    ids = [t.id for t in tenants]
    with all_tenants():
        members = _counts(Membership, ids)
        records = {name: _counts(model, ids) for name, model in RECORD_MODELS}
        keys: dict[uuid.UUID, list[str]] = defaultdict(list)
        if ids:
            for tid, purpose, version, status, in_use in db.session.execute(
                sa.select(TenantKey.tenant_id, TenantKey.purpose, TenantKey.version, TenantKey.status,
                          TenantKey.in_use)
                .where(TenantKey.tenant_id.in_(ids), TenantKey.status != keyring.RETIRED)
                .order_by(TenantKey.purpose, TenantKey.version)
            ).all():
                keys[tid].append(f"{purpose} v{version}" + _key_state(status, in_use))
    return [TenantFacts(t, members.get(t.id, 0), {n: records[n].get(t.id, 0) for n, _ in RECORD_MODELS},
                        keys.get(t.id, [])) for t in tenants]


def _key_state(status: str, in_use: dict[str, int] | None) -> str:
    if status == keyring.ACTIVE:
        return ""
    if status == keyring.DECRYPT_ONLY:
        return (f" (decrypt-only, still used by {keyring.describe_use(in_use)})" if in_use
                else " (decrypt-only, not counted yet)")
    return f" ({status})"


@bp.route("/")
@require_staff_role(StaffRole.PLATFORM_ADMIN, StaffRole.SUPPORT)
def index():
    if current_user.role == StaffRole.SUPPORT:
        granted = support_grants.granted_tenants(current_user)
        return render_template("admin/tenants_granted.html", granted=granted)
    tenants = list(db.session.execute(sa.select(Tenant).order_by(Tenant.created_at.desc())).scalars())
    return render_template("admin/tenants.html", rows=facts(tenants), record_names=[n for n, _ in RECORD_MODELS])


@bp.route("/<uuid:tenant_id>")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def show(tenant_id: uuid.UUID):
    tenant = db.session.get(Tenant, tenant_id) or abort(404)
    (row,) = facts([tenant])
    with all_tenants():
        grants = list(db.session.execute(
            sa.select(support_grants.SupportGrant).where(support_grants.SupportGrant.tenant_id == tenant.id)
            .order_by(support_grants.SupportGrant.created_at.desc()).limit(20)
        ).scalars())
    return render_template("admin/tenant.html", row=row, tenant=tenant, grants=grants,
                           record_names=[n for n, _ in RECORD_MODELS])
