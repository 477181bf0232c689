"""Objects of the audit trail and the account review, for the isolation suite (tests/test_isolation.py).

The record-history route takes a record type and id that tenant A's trail names; tenant B's
trail never named them, so B's URL with them must answer 404 like any other object of A."""

import uuid

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.account_review import AccountReview

RECORD_TYPE = "contact"
_RECORD_IDS: dict[uuid.UUID, str] = {}


def _record_id(tenant) -> str:
    record_id = _RECORD_IDS.setdefault(tenant.id, str(uuid.uuid4()))
    with tenant_context(tenant):
        audit.record("crm.contact.viewed", actor=tenant._test_owner, tenant_id=tenant.id,
                     target_type=RECORD_TYPE, target_id=record_id)
        db.session.flush()
    return record_id


def _audit_event(tenant) -> int:
    with tenant_context(tenant):
        event = audit.record("test.event", actor=tenant._test_owner, tenant_id=tenant.id,
                             target_type="membership", target_id=uuid.uuid4())
        db.session.flush()
        return event.id


def _account_review(tenant) -> uuid.UUID:
    with tenant_context(tenant):
        report = AccountReview(tenant_id=tenant.id, period=clock.now().strftime("%Y-%m"), findings={})
        db.session.add(report)
        db.session.flush()
        return report.id


FACTORIES = {
    "record_type": lambda tenant: RECORD_TYPE,
    "record_id": _record_id,
    "audit_event_id": _audit_event,
    "account_review_id": _account_review,
}
