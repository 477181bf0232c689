"""Who the processor's notices go to: the owners of each active tenant [DPA-8.4]."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask import current_app

from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, Role, User
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants


def active_tenants() -> list[Tenant]:
    return list(db.session.execute(
        sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE.value).order_by(Tenant.created_at)
    ).scalars())


def owners(tenant: Tenant) -> list[User]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(User).join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER.value, User.active.is_(True))
            .order_by(User.email)
        ).scalars())


def each_tenant_owner() -> Iterator[tuple[Tenant, User]]:
    for tenant in active_tenants():
        for owner in owners(tenant):
            yield tenant, owner


def base_url() -> str:
    return current_app.extensions["tenantry.settings"].base_url


def dpo_email() -> str:
    return current_app.extensions["tenantry.settings"].dpo_email
