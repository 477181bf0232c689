"""Cancellation, read-only mode, reminders and reactivation [DPA-4.9, DPA-4.10, TEK-termination].

Cancelling sets the tenant's status to `cancelled` and its `deletion_due_at` to the moment of
cancellation plus 80 days (or the expedited date). From then the workspace is read-only, its
export stays open, and the owners hear of the coming deletion at once and 30, 7 and 1 day(s)
before it. An owner may reactivate at any time before the purge has started.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from tenantry.dpa import recipients
from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context
from tenantry.tenants.lifecycle.cancel_models import (
    REMINDER_DAYS,
    Cancellation,
    CancellationReminder,
    Tombstone,
)

RETENTION_DAYS = 80


class LifecycleError(RuntimeError):
    pass


def current(tenant: Tenant) -> Cancellation | None:
    """The open cancellation of a cancelled tenant (None while it is active)."""
    with tenant_context(tenant):
        return db.session.execute(
            sa.select(Cancellation).where(Cancellation.reactivated_at.is_(None))
            .order_by(Cancellation.cancelled_at.desc()).limit(1)
        ).scalar_one_or_none()


def deletion_delay() -> timedelta:
    return timedelta(days=RETENTION_DAYS)


def days_left(tenant: Tenant, now: datetime | None = None) -> int:
    """Whole days until deletion, rounded up: "1 day" until the very last day has passed."""
    if tenant.deletion_due_at is None:
        return 0
    seconds = (tenant.deletion_due_at - (now or clock.now())).total_seconds()
    return max(0, int(-(-seconds // 86400)))


def purge_started(tenant: Tenant) -> bool:
    return db.session.get(Tombstone, tenant.id) is not None


def cancel(tenant: Tenant, *, actor=None, channel: str = "owner", reference: str | None = None,
           deletion_due_at: datetime | None = None) -> Cancellation:
    """Make the tenant read-only and schedule its deletion; the caller commits."""
    if tenant.status != TenantStatus.ACTIVE:
        raise LifecycleError("This workspace is already cancelled.")
    now = clock.now()
    due = deletion_due_at or now + timedelta(days=RETENTION_DAYS)
    tenant.status = TenantStatus.CANCELLED.value
    tenant.cancelled_at = now
    tenant.deletion_due_at = due
    with tenant_context(tenant):
        row = Cancellation(tenant_id=tenant.id, cancelled_at=now, deletion_due_at=due, channel=channel,
                           cancelled_by_user_id=actor.id if actor is not None and not actor.is_staff else None,
                           reference=reference)
        db.session.add(row)
        db.session.flush()
        audit.record("tenant.cancelled", actor=actor, actor_type=None if actor is not None else "system",
                     tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                     details={"channel": channel, "deletion_due_at": due.isoformat(),
                              "reference": reference})
        _tell_owners(tenant, row, 0)
    return row


def reschedule(tenant: Tenant, due: datetime) -> None:
    """Bring the deletion forward (expedited deletion); never pushes it back."""
    if tenant.deletion_due_at is not None and tenant.deletion_due_at <= due:
        return
    tenant.deletion_due_at = due
    row = current(tenant)
    if row is not None:
        row.deletion_due_at = due


def reactivate(tenant: Tenant, *, actor) -> None:
    if tenant.status != TenantStatus.CANCELLED:
        raise LifecycleError("This workspace is not cancelled.")
    if purge_started(tenant) or (tenant.deletion_due_at is not None and tenant.deletion_due_at <= clock.now()):
        raise LifecycleError("Deletion has already begun; the workspace can no longer be reactivated.")
    from tenantry.tenants.lifecycle import deletion_requests

    if deletion_requests.pending(tenant) is not None:
        raise LifecycleError("You asked in writing for early deletion. To withdraw that request, contact support.")
    now = clock.now()
    with tenant_context(tenant):
        row = current(tenant)
        if row is not None:
            row.reactivated_at = now
            row.reactivated_by_user_id = actor.id if actor is not None and not actor.is_staff else None
        tenant.status = TenantStatus.ACTIVE.value
        tenant.cancelled_at = None
        tenant.deletion_due_at = None
        audit.record("tenant.reactivated", actor=actor, actor_type=None if actor is not None else "system",
                     tenant_id=tenant.id, target_type="tenant",
                     target_id=tenant.id)
        for owner in recipients.owners(tenant):
            notify.create(
                "lifecycle.reactivated", recipient=owner, tenant_id=tenant.id, in_app=True,
                subject=f"{tenant.name} is active again",
                body=(f"The workspace {tenant.name} ({recipients.base_url()}/t/{tenant.slug}/) was reactivated "
                      f"on {now:%Y-%m-%d %H:%M} UTC. It is read-write again and will not be deleted."),
            )


def _tell_owners(tenant: Tenant, row: Cancellation, days_before: int) -> int:
    """One e-mail per owner for this cancellation and point in time, recorded so a second sweep
    (or a second run of a killed one) does not repeat it."""
    exists = db.session.execute(
        sa.select(CancellationReminder).where(CancellationReminder.cancellation_id == row.id,
                                              CancellationReminder.days_before == days_before)
    ).scalar_one_or_none()
    if exists is not None:
        return 0
    db.session.add(CancellationReminder(tenant_id=tenant.id, cancellation_id=row.id, days_before=days_before))
    link = f"{recipients.base_url()}/t/{tenant.slug}/"
    when = f"{row.deletion_due_at:%Y-%m-%d %H:%M} UTC"
    if days_before == 0:
        subject = f"{tenant.name} is cancelled: everything will be deleted on {row.deletion_due_at:%Y-%m-%d}"
        intro = f"The workspace {tenant.name} was cancelled on {row.cancelled_at:%Y-%m-%d %H:%M} UTC."
    else:
        unit = "day" if days_before == 1 else "days"
        subject = f"{tenant.name} will be deleted in {days_before} {unit}"
        intro = f"The workspace {tenant.name} was cancelled and will be deleted in {days_before} {unit}."
    body = (
        f"{intro}\n\n"
        f"It is read-only now. On {when} all of its data will be irreversibly deleted: every record, "
        "every stored file and export, every backup, and its encryption keys.\n\n"
        f"Until then you can still export all data, ask for the data held in backups, or reactivate "
        f"the workspace: {link}settings/cancel"
    )
    for owner in recipients.owners(tenant):
        notify.create("lifecycle.cancelled" if days_before == 0 else "lifecycle.reminder", recipient=owner,
                      tenant_id=tenant.id, in_app=True, subject=subject, body=body)
    return 1


def send_reminders(as_of: datetime) -> int:
    """Sweep step: the 30/7/1-day reminders that are due and not yet sent."""
    sent = 0
    with all_tenants():
        tenants = list(db.session.execute(
            sa.select(Tenant).where(Tenant.status == TenantStatus.CANCELLED.value,
                                    Tenant.deletion_due_at > as_of)
        ).scalars())
    for tenant in tenants:
        row = current(tenant)
        if row is None:
            continue
        with tenant_context(tenant):
            # Only the nearest due point: a tenant cancelled with 5 days left gets the 1-day
            # reminder later, not the 30- and 7-day ones at once.
            due = [d for d in REMINDER_DAYS if row.deletion_due_at - timedelta(days=d) <= as_of]
            if due:
                sent += _tell_owners(tenant, row, min(due))
                for skipped in (d for d in due if d != min(due)):
                    _mark_skipped(tenant, row, skipped)
    return sent


def _mark_skipped(tenant: Tenant, row: Cancellation, days_before: int) -> None:
    if db.session.get(CancellationReminder, (tenant.id, row.id, days_before)) is None:
        db.session.add(CancellationReminder(tenant_id=tenant.id, cancellation_id=row.id, days_before=days_before))


def due_for_purge(as_of: datetime) -> list[uuid.UUID]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(Tenant.id).where(Tenant.status == TenantStatus.CANCELLED.value,
                                       Tenant.deletion_due_at <= as_of).order_by(Tenant.deletion_due_at)
        ).scalars())
