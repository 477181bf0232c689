"""The CRM tests' workspace (acme, in CZ) and its people signed in to the web UI."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests.identity.support import in_app, login_password, new_member, new_tenant


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


def signed_in(web_app, tenant, role: str):
    """A test client of a new `role` member of `tenant`, signed in with a password."""
    person = new_member(web_app, tenant, role)
    client = web_app.test_client()
    assert login_password(client, person.email).status_code == 302
    return client


@pytest.fixture
def member(web_app, acme):
    return signed_in(web_app, acme, "member")


@pytest.fixture
def admin(web_app, acme):
    return signed_in(web_app, acme, "admin")


def listed_reads(app, tenant_id) -> dict[str, dict]:
    """The details of each crm.<entity>.listed event of the tenant, by action."""
    with in_app(app, commit=False), all_tenants():
        events = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action.like("crm.%.listed"))).all()
        return {e.action: e.details for e in events}
