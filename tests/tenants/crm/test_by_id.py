"""The CRM's lookups by id (platform.db.by_id): the row of the current tenant, and nothing of
another tenant's, even when the session holds that row already (session.get would hand it
back from the identity map without asking the database)."""

from __future__ import annotations

from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies, contacts, deals
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app, new_tenant


def test_by_id_finds_the_current_tenants_row_and_not_another_tenants(web_app):
    acme, globex = new_tenant(web_app, "acme"), new_tenant(web_app, "globex")
    with in_app(web_app):
        with tenant_context(db.session.get(Tenant, globex.id)):
            theirs = contacts.create(contacts.ContactData(first_name="Greta", last_name="Globex"))
            db.session.flush()
            assert contacts.get(theirs.id) is theirs
        with tenant_context(db.session.get(Tenant, acme.id)):
            ours = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
            db.session.flush()
            assert db.session.get(Contact, theirs.id) is theirs  # from the identity map, unasked
            assert contacts.get(theirs.id) is None
            assert by_id(Contact, theirs.id) is None
            assert contacts.get(ours.id) is ours
            assert companies.get(theirs.id) is None and deals.get(ours.id) is None
