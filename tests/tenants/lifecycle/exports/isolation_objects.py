"""One export of a tenant, for the isolation suite (tests/test_isolation.py)."""

from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.lifecycle import export


def _export(tenant):
    with tenant_context(tenant):
        made = export.request(requested_by=None)
        db.session.flush()
        return made.id


FACTORIES = {"export_id": _export}
