"""Cooperation requests [DPA-3.2]: either side asks the other for help, answered within 10 business
days of the tenant's country (weekends and public holidays do not count). Reminders go out
after 5 and 8 business days; an unanswered request past its deadline is flagged on both sides."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.business_days import add_business_days
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import Tenant, all_tenants

from . import notices
from .models import COOPERATION_TOPICS, CooperationRequest
from .refs import insert_numbered

DUE_BUSINESS_DAYS = 10
REMINDERS = (5, 8)


class CooperationError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _next_ref(tenant_id) -> str:
    # Numbered per tenant, explicitly: staff open requests across tenants, where no scope applies.
    count = db.session.execute(
        sa.select(sa.func.count()).select_from(CooperationRequest).where(CooperationRequest.tenant_id == tenant_id)).scalar_one()
    return f"COOP-{count + 1:04d}"


def open_request(tenant: Tenant, *, topic: str, subject: str, details: str, user=None, staff=None) -> CooperationRequest:
    """A tenant member (`user`) asks the processor, or staff (`staff`) ask the tenant."""
    if topic not in COOPERATION_TOPICS:
        raise CooperationError("Choose what the request is about.", "topic")
    if (user is None) == (staff is None):
        raise ValueError("a request is opened by a tenant member or by staff, not both")
    now = clock.now()
    country = tenant.country or "CZ"
    request = insert_numbered(lambda ref: CooperationRequest(
        id=new_id(), tenant_id=tenant.id, ref=ref, topic=topic, subject=subject.strip(),
        details=details.strip(), opened_at=now,
        direction="to-processor" if user is not None else "to-controller",
        opened_by_user_id=user.id if user is not None else None,
        opened_by_staff_id=staff.id if staff is not None else None,
        remind_first_at=add_business_days(now, REMINDERS[0], country),
        remind_second_at=add_business_days(now, REMINDERS[1], country),
        due_at=add_business_days(now, DUE_BUSINESS_DAYS, country),
    ), lambda: _next_ref(tenant.id))
    audit.record("cooperation.opened", actor=user or staff, tenant_id=tenant.id, target_type="cooperation",
                 target_id=request.id, details={"ref": request.ref, "topic": topic, "direction": request.direction})
    body = (f"{COOPERATION_TOPICS[topic]}: {request.subject}\n\n{request.details}\n\n"
            f"Please answer by {request.due_at:%Y-%m-%d %H:%M} UTC (10 business days).")
    if request.direction == "to-processor":
        notices.tell_processor(tenant.id, "cooperation.opened", f"Cooperation request {request.ref} from {tenant.name}",
                               body, "cooperation", request.id)
    else:
        notices.tell_tenant(tenant.id, "cooperation.opened", f"Cooperation request {request.ref} from Tenantry",
                            body, "cooperation", request.id)
    return request


def answer(request: CooperationRequest, text: str, *, user=None, staff=None) -> None:
    if request.answered_at is not None:
        raise CooperationError("This request has already been answered.", "answer")
    # The side that was asked answers; the side that asked waits.
    if request.direction == "to-processor" and staff is None:
        raise CooperationError("The processor answers this request.", "answer")
    if request.direction == "to-controller" and user is None:
        raise CooperationError("The workspace answers this request.", "answer")
    request.answer = text.strip()
    request.answered_at = clock.now()
    request.answered_by_user_id = user.id if user is not None else None
    request.answered_by_staff_id = staff.id if staff is not None else None
    audit.record("cooperation.answered", actor=user or staff, tenant_id=request.tenant_id, target_type="cooperation",
                 target_id=request.id, details={"ref": request.ref, "late": request.answered_at > clock.aware(request.due_at)})
    body = f"Answer to {request.ref} ({request.subject}):\n\n{request.answer}"
    if request.direction == "to-processor":
        notices.tell_tenant(request.tenant_id, "cooperation.answered", f"Cooperation request {request.ref} answered",
                            body, "cooperation", request.id)
    else:
        notices.tell_processor(request.tenant_id, "cooperation.answered",
                               f"Cooperation request {request.ref} answered", body, "cooperation", request.id)


def _remind(request: CooperationRequest, tenant: Tenant, which: int) -> None:
    subject = f"Reminder: cooperation request {request.ref} is due {request.due_at:%Y-%m-%d}"
    body = (f"{which} business days have passed since {request.ref} ({request.subject}) was opened. "
            f"It must be answered by {clock.aware(request.due_at):%Y-%m-%d %H:%M} UTC.")
    if request.direction == "to-processor":
        notices.tell_processor(tenant.id, "cooperation.reminder", subject, body, "cooperation", request.id)
    else:
        notices.tell_tenant(tenant.id, "cooperation.reminder", subject, body, "cooperation", request.id)


def _flag_overdue(request: CooperationRequest, tenant: Tenant) -> None:
    subject = f"Overdue: cooperation request {request.ref}"
    body = (f"{request.ref} ({request.subject}) was due at {clock.aware(request.due_at):%Y-%m-%d %H:%M} UTC "
            "and has not been answered.")
    # Both sides hear of it: the one that must answer and the one that waits.
    notices.tell_processor(tenant.id, "cooperation.overdue", subject, body, "cooperation", request.id)
    notices.tell_tenant(tenant.id, "cooperation.overdue", subject, body, "cooperation", request.id)
    audit.record("cooperation.overdue", actor_type="system", tenant_id=tenant.id, target_type="cooperation",
                 target_id=request.id, details={"ref": request.ref})


def sweep(as_of: datetime) -> int:
    """Reminders and overdue flags that are due by `as_of`. Each is stamped when sent, so running
    again sends nothing twice; a reminder whose time passed while the sweep was down still goes,
    unless the request became overdue first (then the overdue notice says it all)."""
    done = 0
    with all_tenants():
        open_requests = list(db.session.execute(
            sa.select(CooperationRequest).where(
                CooperationRequest.answered_at.is_(None),
                sa.or_(
                    sa.and_(CooperationRequest.reminded_first_at.is_(None), CooperationRequest.remind_first_at <= as_of),
                    sa.and_(CooperationRequest.reminded_second_at.is_(None),
                            CooperationRequest.remind_second_at <= as_of),
                    sa.and_(CooperationRequest.overdue_flagged_at.is_(None), CooperationRequest.due_at <= as_of),
                ),
            ).order_by(CooperationRequest.due_at).with_for_update(skip_locked=True)
        ).scalars())
        for request in open_requests:
            tenant = db.session.get(Tenant, request.tenant_id)
            if clock.aware(request.due_at) <= as_of:
                if request.overdue_flagged_at is None:
                    _flag_overdue(request, tenant)
                    done += 1
                request.overdue_flagged_at = request.overdue_flagged_at or as_of
                request.reminded_first_at = request.reminded_first_at or as_of
                request.reminded_second_at = request.reminded_second_at or as_of
                continue
            if request.reminded_second_at is None and clock.aware(request.remind_second_at) <= as_of:
                _remind(request, tenant, REMINDERS[1])
                request.reminded_second_at = as_of
                request.reminded_first_at = request.reminded_first_at or as_of
                done += 1
            elif request.reminded_first_at is None and clock.aware(request.remind_first_at) <= as_of:
                _remind(request, tenant, REMINDERS[0])
                request.reminded_first_at = as_of
                done += 1
    return done


def for_tenant(tenant_id: uuid.UUID) -> list[CooperationRequest]:
    return list(db.session.execute(
        sa.select(CooperationRequest).where(CooperationRequest.tenant_id == tenant_id)
        .order_by(CooperationRequest.opened_at.desc())
    ).scalars())
