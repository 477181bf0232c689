"""Helpers for the incident tests: a DPO and an incident logged for given tenants."""

from __future__ import annotations

from datetime import datetime

from tenantry.dpa.incidents import service
from tenantry.dpa.incidents.models import Incident, Scope
from tenantry.platform import clock
from tenantry.platform.db import db
from tests import factories


def details(aware_at: datetime | None = None, **overrides) -> service.Details:
    aware_at = aware_at or clock.now()
    values = dict(
        title="Misdirected backup bucket", detected_at=aware_at, aware_at=aware_at,
        nature=["confidentiality"], description="A backup bucket was readable from outside for two hours.",
        systems="Backup storage (S3)", subject_categories="tenants' contacts", subjects_approx=1200,
        record_categories="names, e-mail addresses", records_approx=3400,
        consequences="Contacts may receive phishing e-mails.", measures_taken="Bucket closed, keys rotated.",
        measures_proposed="Policy checks on every bucket.", contact="DPO, dpo@tenantry.localhost",
        severity_dpc=1, severity_ei=0.75, severity_cb=0.5, severity_justification="Contact data only.",
    )
    values.update(overrides)
    return service.Details(**values)


def dpo():
    from sqlalchemy import select

    from tenantry.platform.identity.models import StaffUser

    existing = db.session.execute(select(StaffUser).where(StaffUser.role == "dpo")).scalars().first()
    return existing or factories.make_staff("dpo")


def incident_for(tenants, aware_at: datetime | None = None, **overrides) -> Incident:
    incident = service.log_incident(details(aware_at, **overrides), staff=dpo(), scope=Scope.CHOSEN,
                                    tenant_ids=[t.id for t in tenants])
    db.session.flush()
    return incident
