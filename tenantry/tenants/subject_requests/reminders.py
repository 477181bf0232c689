"""The deadline sweep [DSR-deadline]: the workspace's owners and admins are reminded a week
before an open request is due, and told once it is overdue. Each notice is stamped on the
request when it is created (in the sweep's transaction), so running the sweep again, or after
it was killed, sends nothing twice. Notices name the request by kind, dates and link only."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, Role, User
from tenantry.platform.tenancy import Tenant, all_tenants

from .models import OPEN, SubjectRequest

REMIND_BEFORE = timedelta(days=7)


def _handlers(tenant_id) -> list[User]:
    return list(db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.role.in_((Role.OWNER.value, Role.ADMIN.value)),
               User.active.is_(True)).order_by(User.email)).scalars())


def _tell(req: SubjectRequest, tenant: Tenant, kind: str, subject: str, lead: str) -> None:
    base = current_app.extensions["tenantry.settings"].base_url.rstrip("/")
    body = (f"{lead}\n\n{req.label}, received {clock.aware(req.received_at):%Y-%m-%d %H:%M} UTC, due "
            f"{clock.aware(req.due_at):%Y-%m-%d %H:%M} UTC.\n\n{base}/t/{tenant.slug}/subject-requests/{req.id}")
    for user in _handlers(tenant.id):
        notify.create(kind, subject=subject, body=body, recipient=user, tenant_id=tenant.id, in_app=True,
                      email=True)
    audit.record(kind, actor_type="system", tenant_id=tenant.id, target_type="subject_request", target_id=req.id,
                 details={"kind": req.kind})


def sweep(as_of: datetime) -> int:
    done = 0
    with all_tenants():
        due_soon = list(db.session.execute(
            sa.select(SubjectRequest).where(
                SubjectRequest.status == OPEN, SubjectRequest.due_at <= as_of + REMIND_BEFORE,
                sa.or_(SubjectRequest.reminded_at.is_(None), SubjectRequest.overdue_notified_at.is_(None)))
            .order_by(SubjectRequest.due_at, SubjectRequest.id)).scalars())
        for req in due_soon:
            tenant = db.session.get(Tenant, req.tenant_id)
            if tenant is None or not tenant.is_active:
                continue
            if clock.aware(req.due_at) < as_of:
                if req.overdue_notified_at is None:
                    _tell(req, tenant, "dsr.request.overdue", "Overdue: a data subject request was not answered",
                          "A data subject request is past its deadline and still open. Answer it now.")
                    req.overdue_notified_at = as_of
                    done += 1
                req.reminded_at = req.reminded_at or as_of
            elif req.reminded_at is None:
                _tell(req, tenant, "dsr.request.due_soon", "Reminder: a data subject request is due within a week",
                      "A data subject request must be answered within a week.")
                req.reminded_at = as_of
                done += 1
    return done
