"""Notices about a duty: rows first, e-mail second, each linked to the duty so staff can follow
its delivery (queued, sent or failed, and how many attempts)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import notify
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, StaffRole, StaffUser, User
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import all_tenants

from .models import DutyNotice


def _link(note: Notification, subject_type: str, subject_id: uuid.UUID) -> Notification:
    # No relationship ties the two, so the unit of work would not order the inserts by itself.
    db.session.flush([note])
    db.session.add(DutyNotice(notification_id=note.id, subject_type=subject_type, subject_id=subject_id))
    return note


def owners(tenant_id: uuid.UUID) -> list[User]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(User).join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant_id, Membership.role == "owner")
            .order_by(User.email)
        ).scalars())


def tell_tenant(tenant_id: uuid.UUID, kind: str, subject: str, body: str, subject_type: str,
                subject_id: uuid.UUID) -> list[Notification]:
    """E-mail and an in-app notice needing acknowledgement, to every owner of the tenant."""
    notes = []
    for owner in owners(tenant_id):
        note = notify.create(kind, subject=subject, body=body, recipient=owner, tenant_id=tenant_id,
                             in_app=True, email=True, requires_ack=True)
        notes.append(_link(note, subject_type, subject_id))
    return notes


def tell_processor(tenant_id: uuid.UUID, kind: str, subject: str, body: str, subject_type: str,
                   subject_id: uuid.UUID, role: str = StaffRole.DPO) -> list[Notification]:
    """E-mail to the operator's DPO address, and an in-app notice to each staff member of `role`."""
    dpo = current_app.extensions["tenantry.settings"].dpo_email
    notes = [_link(notify.create(kind, subject=subject, body=body, to_email=dpo, tenant_id=tenant_id),
                   subject_type, subject_id)]
    for staff in db.session.execute(sa.select(StaffUser).where(StaffUser.role == role)).scalars():
        note = notify.create(kind, subject=subject, body=body, recipient=staff, tenant_id=tenant_id,
                             in_app=True, email=False)
        notes.append(_link(note, subject_type, subject_id))
    return notes


def for_subject(subject_type: str, subject_id: uuid.UUID) -> list[Notification]:
    return list(db.session.execute(
        sa.select(Notification).join(DutyNotice, DutyNotice.notification_id == Notification.id)
        .where(DutyNotice.subject_type == subject_type, DutyNotice.subject_id == subject_id)
        .order_by(Notification.created_at, Notification.to_email)
    ).scalars())
