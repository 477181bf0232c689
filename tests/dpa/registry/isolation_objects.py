"""Objects of the subprocessor registry for the isolation suite (tests/test_isolation.py)."""

from datetime import timedelta

from tenantry.dpa.registry.models import Subprocessor, TenantSubprocessor
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context


def _tenant_subprocessor(tenant):
    sub = Subprocessor(legal_name="Isolation Probe s.r.o.", address="Praha", contact="probe@example.com",
                       purpose="Probing", data_categories="None", processing_location="Czech Republic",
                       processing_in_eea=True, corporate_location="Czech Republic", corporate_in_eea=True,
                       transfer_mechanism="eea", feature="probe", effective_at=clock.now() + timedelta(days=10))
    db.session.add(sub)
    db.session.flush()
    with tenant_context(tenant):
        row = TenantSubprocessor(tenant_id=tenant.id, subprocessor_id=sub.id, window_days=5)
        db.session.add(row)
        db.session.flush()
        return row.id


FACTORIES = {"tenant_subprocessor_id": _tenant_subprocessor}
