"""An incident in a system reaches the tenants that use it, from the system inventory."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.dpa.incidents import service, systems
from tenantry.dpa.incidents.models import IncidentTenant, Scope
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests import factories
from tests.dpa.incidents.support import details, dpo


def _affected(incident) -> set:
    with all_tenants():
        return set(db.session.execute(sa.select(IncidentTenant.tenant_id)
                                      .where(IncidentTenant.incident_id == incident.id)).scalars())


@pytest.fixture
def tenants(app_ctx):
    return [factories.make_tenant(slug) for slug in ("sys-a", "sys-b", "sys-c")]


@pytest.mark.obligation("DPA-3.3")
def test_core_system_affects_every_tenant(tenants):
    incident = service.log_incident(details(), staff=dpo(), scope=Scope.SYSTEM, tenant_ids=[], scope_detail="database")
    assert _affected(incident) == {t.id for t in tenants}
    assert incident.scope_detail == systems.label("database")


@pytest.mark.obligation("DPA-3.3")
def test_feature_system_affects_only_its_users(tenants):
    users = {tenants[0].id, tenants[2].id}
    systems.register("test-feature", "A feature only some tenants use", tenant_ids=lambda: users)
    try:
        incident = service.log_incident(details(), staff=dpo(), scope=Scope.SYSTEM, tenant_ids=[],
                                        scope_detail="test-feature")
        assert _affected(incident) == users
        narrowed = service.log_incident(details(), staff=dpo(), scope=Scope.SYSTEM, tenant_ids=[tenants[2].id],
                                        scope_detail="test-feature")
        assert _affected(narrowed) == {tenants[2].id}
    finally:
        systems._SYSTEMS.pop("test-feature")


def test_unknown_or_unused_system_is_refused(tenants):
    with pytest.raises(service.IncidentError) as unknown:
        service.log_incident(details(), staff=dpo(), scope=Scope.SYSTEM, tenant_ids=[], scope_detail="laptop-42")
    assert unknown.value.field == "scope_detail"
    systems.register("test-unused", "Nobody uses this", tenant_ids=set)
    try:
        with pytest.raises(service.IncidentError, match="No tenant uses"):
            service.log_incident(details(), staff=dpo(), scope=Scope.SYSTEM, tenant_ids=[], scope_detail="test-unused")
    finally:
        systems._SYSTEMS.pop("test-unused")
