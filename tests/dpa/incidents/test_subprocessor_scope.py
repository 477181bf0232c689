"""An incident at a subprocessor affects exactly the tenants it is active for, per the registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.dpa.incidents import service
from tenantry.dpa.incidents.models import Incident, IncidentEntry, Scope
from tenantry.dpa.registry.models import Subprocessor, TenantSubprocessor
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import tenant_context
from tests import factories
from tests.dpa.incidents.support import details, dpo
from tests.identity.support import who


def _subprocessor(name: str, status: str = "active") -> Subprocessor:
    now = clock.now()
    sub = Subprocessor(legal_name=name, address="Praha", contact="dpo@example.com", purpose="E-mail delivery",
                       data_categories="e-mail addresses", processing_location="Czech Republic",
                       processing_in_eea=True, corporate_location="Czech Republic", corporate_in_eea=True,
                       transfer_mechanism="eea", feature="mailing", status=status,
                       proposed_at=now - timedelta(days=20), effective_at=now - timedelta(days=10),
                       activated_at=now - timedelta(days=10))
    db.session.add(sub)
    db.session.flush()
    return sub


def _status(tenant, sub: Subprocessor, status: str) -> None:
    with tenant_context(tenant):
        db.session.add(TenantSubprocessor(tenant_id=tenant.id, subprocessor_id=sub.id, window_days=5,
                                          status=status, notified_at=clock.now() - timedelta(days=15)))
        db.session.flush()


@pytest.fixture
def registry_scene(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        # Tenants created before the subprocessor was engaged, so each has its own registry row.
        active = factories.make_tenant("uses-it")
        exempted = factories.make_tenant("exempted")
        objected = factories.make_tenant("objected")
        sub = _subprocessor("Mailer s.r.o.")
        _status(active, sub, "active")
        _status(exempted, sub, "exempted")
        _status(objected, sub, "objected")
        staff = factories.make_staff("dpo")
        refs = {"sub": sub.id, "active": active.id, "exempted": exempted.id, "objected": objected.id,
                "dpo": who(staff), "owners": {t.slug: who(t._test_owner) for t in (active, exempted, objected)}}
        db.session.commit()
        return refs


@pytest.mark.obligation("DPA-4.3.6")
def test_only_tenants_with_the_subprocessor_active_are_affected_and_notified(app, registry_scene, outbox):
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, registry_scene["dpo"])
    page = client.get("/admin/incidents/new").get_data(as_text=True)
    assert "Mailer s.r.o." in page
    aware = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"title": "Mailer leaked a mailing list", "detected_at": aware, "aware_at": aware,
            "nature": ["confidentiality"], "contact": "DPO <dpo@tenantry.localhost>", "scope": "subprocessor",
            # Choosing tenants does not widen a subprocessor incident beyond the registry.
            "subprocessors": [str(registry_scene["sub"])], "tenants": [str(registry_scene["exempted"])]}
    response = client.post("/admin/incidents/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        incident = db.session.execute(sa.select(Incident)).scalar_one()
        assert incident.scope == "subprocessor" and incident.scope_detail == "Mailer s.r.o."
        assert {t.tenant_id for t in service.affected(incident.id)} == {registry_scene["active"]}
        logged = db.session.execute(sa.select(IncidentEntry)).scalar_one()
        assert logged.data == {"subprocessors": [str(registry_scene["sub"])]}
    assert client.post(response.headers["Location"] + "/notify").status_code == 302
    owners = registry_scene["owners"]
    assert {str(m["To"]) for m in outbox.messages()} == {owners["uses-it"].email}
    with app.app_context():
        told = set(db.session.execute(sa.select(Notification.user_id)
                                      .where(Notification.kind == "incident.notice")).scalars())
        assert told == {owners["uses-it"].id}


def test_a_subprocessor_incident_needs_a_registry_entry_in_use(app, registry_scene):
    with app.app_context():
        with pytest.raises(service.IncidentError) as missing:
            service.log_incident(details(), staff=dpo(), scope=Scope.SUBPROCESSOR, tenant_ids=[])
        assert missing.value.field == "subprocessors"
        unused = _subprocessor("Nobody Uses Me a.s.", status="proposed")
        with pytest.raises(service.IncidentError) as nobody:
            service.log_incident(details(), staff=dpo(), scope=Scope.SUBPROCESSOR, tenant_ids=[],
                                 subprocessor_ids=[unused.id])
        assert nobody.value.field == "subprocessors"
        db.session.rollback()


def test_a_subprocessor_incident_form_without_a_choice_is_refused_with_422(app, registry_scene):
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, registry_scene["dpo"])
    aware = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/admin/incidents/new", data={
        "title": "Something", "detected_at": aware, "aware_at": aware, "nature": ["integrity"],
        "contact": "DPO", "scope": "subprocessor"})
    assert response.status_code == 422
    assert "Choose the affected subprocessors" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Incident)).scalar_one() == 0
