"""Objects of the duties area for the isolation suite: one of tenant A per URL parameter."""

from __future__ import annotations

from datetime import timedelta

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants, tenant_context
from tests import factories


def _audit(tenant):
    from tenantry.dpa.duties import audits

    with tenant_context(tenant):
        row = audits.request_audit(tenant, tenant._test_owner, scope="All", proposed_date=(
            clock.now() + timedelta(days=40)).date(), auditor_name="A", auditor_organisation="B",
            independence_statement="C")
        db.session.flush()
        return row


def _audit_id(tenant):
    return _audit(tenant).id


def _audit_document_id(tenant):
    from tenantry.dpa.duties import audits

    row = _audit(tenant)
    staff = factories.make_staff("platform-admin")
    with tenant_context(tenant):
        doc = audits.share_document(row, staff, "notes.txt", b"Audit notes")
        db.session.flush()
        return doc.id


def _inspection_id(tenant):
    from tenantry.dpa.duties import inspections

    staff = factories.make_staff("dpo")
    with all_tenants():
        inspection = inspections.record(staff, authority="Authority", scope="Scope", tenant_ids=[tenant.id])
        db.session.flush()
        return inspection.id


def _cooperation_id(tenant):
    from tenantry.dpa.duties import cooperation

    with tenant_context(tenant):
        row = cooperation.open_request(tenant, topic="dsr", subject="S", details="D", user=tenant._test_owner)
        db.session.flush()
        return row.id


def _processing_activity_id(tenant):
    from tenantry.dpa.duties.models import ProcessingActivity

    with tenant_context(tenant):
        row = ProcessingActivity(name="N", purpose="P", legal_basis="contract", data_categories="D",
                                 subject_categories="S", recipients="R", retention="1 year")
        db.session.add(row)
        db.session.flush()
        return row.id


FACTORIES = {
    "audit_id": _audit_id,
    "audit_document_id": _audit_document_id,
    "inspection_id": _inspection_id,
    "cooperation_id": _cooperation_id,
    "processing_activity_id": _processing_activity_id,
}
