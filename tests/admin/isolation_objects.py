"""A support grant of a tenant, for the isolation suite (tests/test_isolation.py)."""

from datetime import timedelta

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.support_grants import SupportGrant
from tests import factories


def _support_grant(tenant):
    staff = factories.make_staff("support")
    with tenant_context(tenant):
        now = clock.now()
        row = SupportGrant(staff_id=staff.id, ticket_ref="ISO-1", scope="read-only", created_at=now,
                           expires_at=now + timedelta(hours=1))
        db.session.add(row)
        db.session.flush()
        return row.id


FACTORIES = {"support_grant_id": _support_grant}
