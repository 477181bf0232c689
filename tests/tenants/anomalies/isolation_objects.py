"""One anomaly alert of a tenant, for the isolation suite (tests/test_isolation.py)."""

import uuid

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.anomalies.models import Alert


def _alert(tenant):
    with tenant_context(tenant):
        now = clock.now()
        alert = Alert(tenant_id=tenant.id, rule="export", subject_type="user", subject_id=str(uuid.uuid4()),
                      first_seen_at=now, last_seen_at=now, observed=1, threshold=0)
        db.session.add(alert)
        db.session.flush()
        return alert.id


FACTORIES = {"alert_id": _alert}
