"""Reference numbers under concurrency: a number taken meanwhile is skipped, not a failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tenantry.dpa.duties import audits, cooperation
from tenantry.dpa.duties.models import Audit, CooperationRequest
from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import all_tenants, tenant_context
from tests import factories


def _stale_first(monkeypatch, module, stale: str):
    """The first count is taken before a concurrent request commits its row: it repeats `stale`."""
    real = module._next_ref
    calls = []

    def next_ref(tenant_id):
        calls.append(tenant_id)
        return stale if len(calls) == 1 else real(tenant_id)

    monkeypatch.setattr(module, "_next_ref", next_ref)
    return calls


def test_a_colliding_cooperation_reference_retries_under_a_savepoint(app_ctx, monkeypatch):
    tenant = factories.make_tenant("acme")
    with tenant_context(tenant):
        first = cooperation.open_request(tenant, topic="dsr", subject="One", details="D", user=tenant._test_owner)
    assert first.ref == "COOP-0001"
    other = factories.make_tenant("other")
    calls = _stale_first(monkeypatch, cooperation, "COOP-0001")
    with tenant_context(tenant):
        second = cooperation.open_request(tenant, topic="dsr", subject="Two", details="D", user=tenant._test_owner)
    assert second.ref == "COOP-0002" and len(calls) == 2
    db.session.commit()
    # The savepoint rolled back only the failed insert: the transaction's earlier work stands.
    with all_tenants():
        refs = db.session.execute(sa.select(CooperationRequest.ref).where(
            CooperationRequest.tenant_id == tenant.id).order_by(CooperationRequest.ref)).scalars().all()
        assert refs == ["COOP-0001", "COOP-0002"]
    assert db.session.get(type(other), other.id) is not None
    # Another tenant numbers on its own.
    with tenant_context(other):
        assert cooperation.open_request(other, topic="dsr", subject="S", details="D",
                                        user=other._test_owner).ref == "COOP-0001"


def test_a_colliding_audit_reference_takes_the_next_number(app_ctx, monkeypatch):
    tenant = factories.make_tenant("acme")
    date = (clock.now() + timedelta(days=40)).date()
    kwargs = dict(scope="All", proposed_date=date, auditor_name="A. Auditor", auditor_organisation="Audit Co",
                  independence_statement="Independent.")
    with tenant_context(tenant):
        assert audits.request_audit(tenant, tenant._test_owner, **kwargs).ref == "AUD-0001"
        _stale_first(monkeypatch, audits, "AUD-0001")
        assert audits.request_audit(tenant, tenant._test_owner, **kwargs).ref == "AUD-0002"
    db.session.commit()


def test_the_database_refuses_a_duplicate_reference_per_tenant(app_ctx):
    tenant = factories.make_tenant("acme")
    with tenant_context(tenant):
        cooperation.open_request(tenant, topic="dsr", subject="One", details="D", user=tenant._test_owner)
    db.session.commit()
    with tenant_context(tenant), pytest.raises(IntegrityError):
        now = clock.now()
        db.session.add(CooperationRequest(
            id=new_id(), tenant_id=tenant.id, ref="COOP-0001", topic="dsr", subject="S", details="D", opened_at=now,
            direction="to-processor", remind_first_at=now, remind_second_at=now, due_at=now))
        db.session.flush()
    db.session.rollback()
    with all_tenants():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one() == 0
