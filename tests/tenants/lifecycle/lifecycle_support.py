"""Helpers of the cancellation, purge and expedited-deletion tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import contacts
from tests import factories
from tests.identity.support import TenantRef, code_at, in_app, step_now, who


def owned_tenant(app, slug: str) -> TenantRef:
    """A tenant whose owner has two-factor authentication (cancelling asks for a code)."""
    with in_app(app):
        owner = factories.make_user(f"owner-{slug}@example.com", with_totp=True)
        tenant = factories.make_tenant(slug, owner=owner)
        return TenantRef(tenant.id, tenant.slug, who(owner))


def add_contact(app, tenant: TenantRef, surname: str = "Novak") -> uuid.UUID:
    with in_app(app):
        t = db.session.get(Tenant, tenant.id)
        with tenant_context(t):
            row = contacts.create(contacts.ContactData(first_name="Jana", last_name=surname,
                                                       emails=[f"{surname.lower()}@example.org"]))
            return row.id


def fresh_code(clock, secret: str) -> str:
    """A code of a step later than any used so far (the clock moves on by three steps)."""
    clock.shift(timedelta(seconds=90))
    return code_at(secret, step_now())


def tenant_row(app, tenant_id) -> dict:
    with in_app(app, commit=False), all_tenants():
        t = db.session.get(Tenant, tenant_id)
        return {"status": t.status, "cancelled_at": t.cancelled_at, "deletion_due_at": t.deletion_due_at,
                "slug": t.slug, "name": t.name}


def contact_count(app, tenant_id) -> int:
    from tenantry.tenants.crm.models import Contact

    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(sa.func.count()).select_from(Contact)
                                  .where(Contact.tenant_id == tenant_id)).scalar_one()


def sweep(app, when) -> dict:
    from tenantry.platform import cron

    with in_app(app):
        return cron.sweep(when)
