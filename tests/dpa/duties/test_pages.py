"""Every duties page renders for the people it is for, with objects on it, and is in the sidebar."""

from __future__ import annotations

from tenantry.dpa.duties.models import (
    Audit,
    AuditDocument,
    CooperationRequest,
    Inspection,
    ProcessingActivity,
)
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import Tenant
from tests.dpa.duties import isolation_objects
from tests.dpa.duties.support import new_staff, rows
from tests.identity.support import in_app, new_tenant, sign_in, text


def test_every_page_renders_for_the_owner_and_for_staff(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    with in_app(web_app):
        tenant = db.session.get(Tenant, acme.id)
        tenant._test_owner = db.session.get(User, acme.owner.id)
        for make in isolation_objects.FACTORIES.values():
            make(tenant)
    [doc] = rows(web_app, AuditDocument)
    [audit] = rows(web_app, Audit, Audit.id == doc["audit_id"])
    [inspection] = rows(web_app, Inspection)
    [coop] = rows(web_app, CooperationRequest)
    [activity] = rows(web_app, ProcessingActivity)

    sign_in(web, acme.owner)
    dashboard = text(web.get("/t/acme/"))
    for label in ("Records of processing", "Cooperation", "Inspections", "Audits"):
        assert label in dashboard
    for path in ["/t/acme/audits", "/t/acme/audits/new", f"/t/acme/audits/{audit['id']}",
                 f"/t/acme/audits/{audit['id']}/documents/{doc['id']}", "/t/acme/inspections",
                 f"/t/acme/inspections/{inspection['id']}", "/t/acme/cooperation", f"/t/acme/cooperation/{coop['id']}",
                 "/t/acme/records", "/t/acme/records/activities/new", f"/t/acme/records/activities/{activity['id']}"]:
        assert web.get(path).status_code == 200, path

    admin = web_app.test_client()
    sign_in(admin, new_staff(web_app, "platform-admin"))
    for path in ["/admin/audits", f"/admin/audits/{audit['id']}"]:
        assert admin.get(path).status_code == 200, path
    dpo = web_app.test_client()
    sign_in(dpo, new_staff(web_app, "dpo"))
    for path in ["/admin/inspections", f"/admin/inspections/{inspection['id']}", "/admin/cooperation",
                 f"/admin/cooperation/{coop['id']}", "/admin/audits"]:
        assert dpo.get(path).status_code == 200, path
    assert "Acme" in text(dpo.get("/admin/cooperation"))
