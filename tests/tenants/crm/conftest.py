"""The CRM tests' workspace (acme, in CZ) and its people signed in to the web UI."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests.identity.support import browser_sign_in, in_app, login_password, new_member, new_tenant


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


def acme_in_a_browser(live_server, page, seed, path: str, *, width: int, height: int):
    """The acme workspace (CZ) seeded by seed(app, tenant), its owner signed in at `path` in a
    real browser of that size; what `seed` returned."""
    acme = new_tenant(live_server.app, "acme", country="CZ")
    seeded = seed(live_server.app, acme)
    page.set_viewport_size({"width": width, "height": height})
    browser_sign_in(page, str(live_server), acme.owner.email, then=f"{live_server}/t/acme/**")
    page.goto(f"{live_server}/t/acme{path}")
    return seeded
