"""The subprocessor registry's work: proposing, announcing, objecting, resolving, activating.

A proposed subprocessor is engaged for a tenant only when that tenant's objection window has
closed without an objection and the effective date has passed [DPA-4.8]. The window opens
when the tenant's notice is delivered (the first owner's e-mail is sent), so a notice that
is stuck in delivery keeps the subprocessor off for that tenant instead of shortening its time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from tenantry.dpa import recipients
from tenantry.dpa.registry.models import (
    Objection,
    Resolution,
    Status,
    Subprocessor,
    SubprocessorChange,
    SubprocessorNoticeMessage,
    TenantStatus,
    TenantSubprocessor,
    Transfer,
)
from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context

DEFAULT_WINDOW_DAYS = 5
MAX_WINDOW_DAYS = 90
FIELDS = ("legal_name", "address", "contact", "purpose", "data_categories", "processing_location",
          "processing_in_eea", "corporate_location", "corporate_in_eea", "transfer_mechanism", "transfer_details",
          "feature")


class RegistryError(ValueError):
    """Refused input; `field` names the form field the message belongs next to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# --- reading -------------------------------------------------------------------------------


def get(subprocessor_id: uuid.UUID) -> Subprocessor | None:
    return db.session.get(Subprocessor, subprocessor_id)


def listed() -> list[Subprocessor]:
    """Every entry the public registry shows: proposed and active first, then retired ones."""
    order = sa.case({Status.ACTIVE.value: 0, Status.PROPOSED.value: 1}, value=Subprocessor.status, else_=2)
    return list(db.session.execute(
        sa.select(Subprocessor).order_by(order, Subprocessor.legal_name)
    ).scalars())


def changes(limit: int = 200) -> list[SubprocessorChange]:
    return list(db.session.execute(
        sa.select(SubprocessorChange).order_by(SubprocessorChange.occurred_at.desc(), SubprocessorChange.id.desc())
        .limit(limit)
    ).scalars())


def _log(sub: Subprocessor, action: str, staff=None) -> None:
    now = clock.now()
    sub.updated_at = now
    db.session.add(SubprocessorChange(subprocessor=sub, occurred_at=now, action=action, state=sub.snapshot(),
                                      staff_id=staff.id if staff is not None else None))


def tenant_rows() -> dict[uuid.UUID, TenantSubprocessor]:
    """The current tenant's notices, by subprocessor."""
    rows = db.session.execute(sa.select(TenantSubprocessor)).scalars()
    return {row.subprocessor_id: row for row in rows}


def status_for(sub: Subprocessor, row: TenantSubprocessor | None, tenant: Tenant) -> str:
    """Whether `sub` touches `tenant`'s data: active, retired, or the state of its proposal."""
    if sub.status == Status.RETIRED:
        return "withdrawn" if sub.withdrawn_at else "retired"
    if row is not None:
        return row.status
    if sub.status == Status.ACTIVE and sub.activated_at is not None and tenant.created_at >= sub.activated_at:
        # The tenant signed up with this subprocessor already engaged and listed.
        return TenantStatus.ACTIVE.value
    return "not yet notified"


def for_tenant(tenant: Tenant) -> list[tuple[Subprocessor, str, TenantSubprocessor | None]]:
    rows = tenant_rows()
    return [(sub, status_for(sub, rows.get(sub.id), tenant), rows.get(sub.id)) for sub in listed()]


def feature_allowed(tenant_id: uuid.UUID, feature: str) -> bool:
    """Whether a product feature may run for a tenant: every subprocessor it needs is active for it.

    A feature no subprocessor was ever listed for is always allowed; one whose subprocessor is
    proposed, objected to, exempted or withdrawn for this tenant stays off [DPA-4.8].
    """
    with all_tenants():
        tenant = db.session.get(Tenant, tenant_id)
        if tenant is None:
            return False
        every = list(db.session.execute(sa.select(Subprocessor).where(Subprocessor.feature == feature)).scalars())
        if not every:
            return True
        subs = [s for s in every if s.status != Status.RETIRED]
        if not subs:
            return False  # its subprocessors were withdrawn or retired: nothing is engaged to run it
        rows = {r.subprocessor_id: r for r in db.session.execute(
            sa.select(TenantSubprocessor).where(TenantSubprocessor.tenant_id == tenant_id,
                                                TenantSubprocessor.subprocessor_id.in_([s.id for s in subs]))
        ).scalars()}
    return all(status_for(sub, rows.get(sub.id), tenant) == TenantStatus.ACTIVE for sub in subs)


# --- proposing and announcing --------------------------------------------------------------


def _clean(fields: dict) -> dict:
    data = {}
    for name in FIELDS:
        value = fields.get(name)
        data[name] = value.strip() if isinstance(value, str) else value
    for name in ("legal_name", "address", "contact", "purpose", "data_categories", "processing_location",
                 "corporate_location", "feature"):
        if not data[name]:
            raise RegistryError(name, "This field is required.")
    data["transfer_details"] = data["transfer_details"] or ""
    if data["transfer_mechanism"] not in {t.value for t in Transfer}:
        raise RegistryError("transfer_mechanism", "Choose one of the listed transfer mechanisms.")
    if data["transfer_mechanism"] == Transfer.EEA and not (data["processing_in_eea"] and data["corporate_in_eea"]):
        raise RegistryError("transfer_mechanism",
                            "Outside the EEA a transfer needs a mechanism: adequacy, SCCs or the DPF.")
    return data


def propose(staff, *, effective_at: datetime, window_days: int = DEFAULT_WINDOW_DAYS, **fields) -> Subprocessor:
    """Record a proposed subprocessor and tell every tenant's owners (e-mail and in-app)."""
    data = _clean(fields)
    now = clock.now()
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise RegistryError("window_days", f"The objection window is 1 to {MAX_WINDOW_DAYS} days.")
    if effective_at.tzinfo is None:
        raise RegistryError("effective_at", "Give the effective date in UTC.")
    if effective_at < now + timedelta(days=window_days):
        raise RegistryError("effective_at", f"The effective date must leave the {window_days}-day objection window "
                                            "after the notice: choose a later date.")
    sub = Subprocessor(**data, status=Status.PROPOSED.value, objection_window_days=window_days, proposed_at=now,
                       effective_at=effective_at)
    db.session.add(sub)
    db.session.flush()
    _log(sub, "proposed", staff)
    audit.record("subprocessor.proposed", actor=staff, target_type="subprocessor", target_id=sub.id,
                 details={"feature": sub.feature, "window_days": window_days})
    announce()
    return sub


def _needs_notice(sub: Subprocessor, tenant: Tenant) -> bool:
    if sub.status == Status.PROPOSED:
        return True
    # A tenant that existed before the engagement must have had its say, however late.
    return sub.status == Status.ACTIVE and sub.activated_at is not None and tenant.created_at < sub.activated_at


def announce(as_of: datetime | None = None) -> int:
    """Give every active tenant its notice of each pending subprocessor, once. Idempotent."""
    created = 0
    with all_tenants():
        subs = list(db.session.execute(
            sa.select(Subprocessor).where(Subprocessor.status.in_([Status.PROPOSED.value, Status.ACTIVE.value]))
        ).scalars())
        if not subs:
            return 0
        notified = set(db.session.execute(
            sa.select(TenantSubprocessor.tenant_id, TenantSubprocessor.subprocessor_id)).tuples())
        tenants = recipients.active_tenants()
    for sub in subs:
        for tenant in tenants:
            if (tenant.id, sub.id) in notified or not _needs_notice(sub, tenant):
                continue
            _notify_tenant(sub, tenant)
            created += 1
    return created


def _notify_tenant(sub: Subprocessor, tenant: Tenant) -> TenantSubprocessor:
    link = f"{recipients.base_url()}/t/{tenant.slug}/subprocessors"
    outside = f"Transfer outside the EEA under: {sub.transfer_label}." if sub.outside_eea else "It processes within the EEA."
    body = (
        f"Tenantry proposes to engage a new subprocessor for {tenant.name}.\n\n"
        f"Subprocessor: {sub.legal_name}\nPurpose: {sub.purpose}\nData: {sub.data_categories}\n"
        f"Processing location: {sub.processing_location}\nCorporate location: {sub.corporate_location}\n"
        f"{outside}\nFeature that uses it: {sub.feature}\n"
        f"Effective from: {sub.effective_at:%Y-%m-%d %H:%M} UTC\n\n"
        f"You may object, with a reason, within {sub.objection_window_days} days of this notice's delivery:\n"
        f"{link}\n\nWithout an objection it is engaged for your workspace once that time has passed."
    )
    with tenant_context(tenant):
        row = TenantSubprocessor(tenant_id=tenant.id, subprocessor_id=sub.id, status=TenantStatus.NOTIFIED.value,
                                 notified_at=clock.now(), window_days=sub.objection_window_days)
        db.session.add(row)
        db.session.flush()
        for owner in recipients.owners(tenant):
            note = notify.create("subprocessor.proposed", recipient=owner, tenant_id=tenant.id,
                                 subject=f"New subprocessor proposed: {sub.legal_name}", body=body,
                                 in_app=True, email=True, requires_ack=True)
            db.session.flush()  # the notification row first: the message row refers to it
            db.session.add(SubprocessorNoticeMessage(tenant_id=tenant.id, tenant_subprocessor_id=row.id,
                                                     notification_id=note.id))
        audit.record("subprocessor.notified", tenant_id=tenant.id, target_type="subprocessor", target_id=sub.id)
    return row


def notices_of(row: TenantSubprocessor) -> list[Notification]:
    return list(db.session.execute(
        sa.select(Notification).join(SubprocessorNoticeMessage,
                                     SubprocessorNoticeMessage.notification_id == Notification.id)
        .where(SubprocessorNoticeMessage.tenant_id == row.tenant_id,
               SubprocessorNoticeMessage.tenant_subprocessor_id == row.id)
        .order_by(Notification.to_email)
    ).scalars())


def refresh_delivery(row: TenantSubprocessor) -> None:
    """Start the tenant's window at the first delivered e-mail of its notice."""
    if row.delivered_at is not None:
        return
    sent = [n.sent_at for n in notices_of(row) if n.delivery_state == "sent" and n.sent_at is not None]
    if sent:
        row.delivered_at = min(sent)
        row.objection_deadline = row.delivered_at + timedelta(days=row.window_days)
        row.updated_at = clock.now()


# --- objecting and resolving ---------------------------------------------------------------


def window_open(row: TenantSubprocessor, now: datetime | None = None) -> bool:
    now = now or clock.now()
    if row.status != TenantStatus.NOTIFIED:
        return False
    refresh_delivery(row)
    return row.objection_deadline is None or now < row.objection_deadline


def object_to(row: TenantSubprocessor, user, reason: str) -> Objection:
    """A tenant objects to a proposed subprocessor, within its window [DPA-4.8]."""
    reason = (reason or "").strip()
    if not reason:
        raise RegistryError("reason", "Give the reason for the objection.")
    if row.status == TenantStatus.OBJECTED:
        raise RegistryError("reason", "Your workspace has already objected to this subprocessor.")
    if row.subprocessor.status == Status.RETIRED or row.status != TenantStatus.NOTIFIED:
        raise RegistryError("reason", "This proposal is no longer open to objections.")
    now = clock.now()
    if not window_open(row, now):
        raise RegistryError("reason", f"The objection window closed on {row.objection_deadline:%Y-%m-%d %H:%M} UTC, "
                                      f"{row.window_days} days after the notice was delivered.")
    objection = Objection(tenant_id=row.tenant_id, tenant_subprocessor_id=row.id, subprocessor_id=row.subprocessor_id,
                          reason=reason, objected_at=now, objected_by_user_id=user.id)
    db.session.add(objection)
    row.status = TenantStatus.OBJECTED.value
    row.updated_at = now
    db.session.flush()
    audit.record("subprocessor.objected", actor=user, tenant_id=row.tenant_id, target_type="subprocessor_objection",
                 target_id=objection.id)
    notify.create("subprocessor.objection", to_email=recipients.dpo_email(),
                  subject=f"Objection to {row.subprocessor.legal_name}",
                  body=(f"A tenant objected to the proposed subprocessor {row.subprocessor.legal_name}. "
                        f"Resolve it at {recipients.base_url()}/admin/subprocessors/{row.subprocessor_id}"))
    return objection


def objections(sub: Subprocessor) -> list[tuple[Objection, Tenant]]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(Objection, Tenant).join(Tenant, Tenant.id == Objection.tenant_id)
            .where(Objection.subprocessor_id == sub.id).order_by(Objection.objected_at)
        ).tuples())


def deliveries(sub: Subprocessor) -> list[tuple[Tenant, TenantSubprocessor, list[Notification]]]:
    """Each tenant's notice of `sub` with the delivery state of every e-mail that carries it."""
    with all_tenants():
        rows = list(db.session.execute(
            sa.select(TenantSubprocessor, Tenant).join(Tenant, Tenant.id == TenantSubprocessor.tenant_id)
            .where(TenantSubprocessor.subprocessor_id == sub.id).order_by(Tenant.slug)
        ).tuples())
        result = []
        for row, tenant in rows:
            refresh_delivery(row)
            result.append((tenant, row, notices_of(row)))
    return result


def get_objection(objection_id: uuid.UUID) -> Objection | None:
    with all_tenants():
        return db.session.get(Objection, objection_id)


def resolve(objection: Objection, staff, resolution: str, note: str = "") -> None:
    """Settle one objection: withdraw the change, exempt the tenant, or record that it cancels."""
    if resolution not in {r.value for r in Resolution}:
        raise RegistryError("resolution", "Choose how the objection is resolved.")
    if objection.resolution is not None:
        raise RegistryError("resolution", "This objection is already resolved.")
    with all_tenants():
        sub = objection.subprocessor
        if resolution == Resolution.WITHDRAWN:
            withdraw(sub, staff, note)
            return
        row = db.session.execute(sa.select(TenantSubprocessor).where(
            TenantSubprocessor.tenant_id == objection.tenant_id,
            TenantSubprocessor.id == objection.tenant_subprocessor_id)).scalar_one()
        now = clock.now()
        row.status = (TenantStatus.EXEMPTED if resolution == Resolution.EXEMPTED else TenantStatus.CANCELLING).value
        row.updated_at = now
        _settle(objection, staff, resolution, note, now)


def _settle(objection: Objection, staff, resolution: str, note: str, now: datetime) -> None:
    objection.resolution = resolution
    objection.resolution_note = (note or "").strip() or None
    objection.resolved_at = now
    objection.resolved_by_staff_id = staff.id
    audit.record("subprocessor.objection-resolved", actor=staff, tenant_id=objection.tenant_id,
                 target_type="subprocessor_objection", target_id=objection.id, details={"resolution": resolution})


def withdraw(sub: Subprocessor, staff, note: str = "") -> None:
    """Withdraw a proposed (or engaged) subprocessor for everyone, settling every open objection."""
    if sub.status == Status.RETIRED:
        raise RegistryError("resolution", "This subprocessor is already retired.")
    now = clock.now()
    with all_tenants():
        sub.status = Status.RETIRED.value
        sub.withdrawn_at = sub.retired_at = now
        for row in db.session.execute(sa.select(TenantSubprocessor).where(
                TenantSubprocessor.subprocessor_id == sub.id)).scalars():
            row.status = TenantStatus.WITHDRAWN.value
            row.updated_at = now
        for objection in db.session.execute(sa.select(Objection).where(
                Objection.subprocessor_id == sub.id, Objection.resolution.is_(None))).scalars():
            _settle(objection, staff, Resolution.WITHDRAWN.value, note, now)
        _log(sub, "withdrawn", staff)
        audit.record("subprocessor.withdrawn", actor=staff, target_type="subprocessor", target_id=sub.id)
        for tenant, owner in recipients.each_tenant_owner():
            notify.create("subprocessor.withdrawn", recipient=owner, tenant_id=tenant.id,
                          subject=f"Subprocessor withdrawn: {sub.legal_name}",
                          body=(f"Tenantry withdrew the proposal to engage {sub.legal_name} ({sub.purpose}). "
                                "It will not process your data."), in_app=True, email=True)


def retire(sub: Subprocessor, staff) -> None:
    if sub.status != Status.ACTIVE:
        raise RegistryError("status", "Only an active subprocessor can be retired.")
    sub.status = Status.RETIRED.value
    sub.retired_at = clock.now()
    _log(sub, "retired", staff)
    audit.record("subprocessor.retired", actor=staff, target_type="subprocessor", target_id=sub.id)


# --- the sweep -----------------------------------------------------------------------------


def close_windows(as_of: datetime) -> int:
    """Engage subprocessors whose date has come, and for each tenant whose window closed unopposed.

    Idempotent: only rows still waiting change, and each changes once.
    """
    changed = 0
    with all_tenants():
        for sub in db.session.execute(sa.select(Subprocessor).where(
                Subprocessor.status == Status.PROPOSED.value, Subprocessor.effective_at <= as_of)).scalars():
            sub.status = Status.ACTIVE.value
            # The date it took effect, not when a sweep noticed: tenants created since then saw it listed.
            sub.activated_at = sub.effective_at
            _log(sub, "activated")
            changed += 1
        waiting = list(db.session.execute(
            sa.select(TenantSubprocessor).join(Subprocessor, Subprocessor.id == TenantSubprocessor.subprocessor_id)
            .where(TenantSubprocessor.status == TenantStatus.NOTIFIED.value,
                   Subprocessor.status == Status.ACTIVE.value)
        ).scalars())
        for row in waiting:
            refresh_delivery(row)
            if row.objection_deadline is None or row.objection_deadline > as_of:
                continue
            sub = row.subprocessor
            row.status = TenantStatus.ACTIVE.value
            row.active_since = max(sub.effective_at, row.objection_deadline)
            row.updated_at = as_of
            audit.record("subprocessor.engaged", tenant_id=row.tenant_id, target_type="subprocessor",
                         target_id=row.subprocessor_id)
            changed += 1
    return changed


def sweep(as_of: datetime) -> int:
    return announce(as_of) + close_windows(as_of)
