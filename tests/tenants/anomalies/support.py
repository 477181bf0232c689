"""Helpers of the anomaly tests: audit events as the product records them, then the jobs."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform import audit, jobs
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import all_tenants
from tenantry.tenants.anomalies.models import Alert
from tests.identity.support import in_app


def read_contacts(app, tenant_id: uuid.UUID, user_id: uuid.UUID, ids: list, per_page: int = 50) -> None:
    """Contact list pages as record_read writes them (a page of ids per event), then the jobs."""
    with in_app(app):
        user = db.session.get(User, user_id)
        for start in range(0, len(ids), per_page):
            audit.record_read("crm.contacts.listed", target_type="contact", target_ids=ids[start:start + per_page],
                              actor=user, tenant_id=tenant_id)
    run_jobs(app)


def record(app, action: str, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    with in_app(app):
        audit.record(action, actor=db.session.get(User, user_id), tenant_id=tenant_id)
    run_jobs(app)


def run_jobs(app) -> None:
    with app.app_context():
        jobs.drain()


def alerts(app, tenant_id: uuid.UUID | None = None, rule: str | None = None) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        query = sa.select(Alert).order_by(Alert.created_at, Alert.id)
        if tenant_id is not None:
            query = query.where(Alert.tenant_id == tenant_id)
        if rule is not None:
            query = query.where(Alert.rule == rule)
        return [{"id": a.id, "tenant_id": a.tenant_id, "rule": a.rule, "subject_id": a.subject_id,
                 "observed": a.observed, "threshold": a.threshold, "events": a.events, "status": a.status,
                 "details": a.details} for a in db.session.execute(query).scalars()]


def ids(n: int, start: int = 0) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(start, start + n)]
