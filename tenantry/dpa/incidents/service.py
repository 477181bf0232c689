"""The work of the breach process: log, notify, follow up, remind, flag, report, export.

Plain functions; views and the sweep call them, and the caller commits. Nothing here
updates or deletes a row of the incident tables (see models.py).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import audit, clock, notify
from tenantry.platform.csv_cells import safe_cell
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, StaffRole, StaffUser, User
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context

from . import systems
from .models import (
    NOTIFY_WITHIN,
    PLAN_WITHIN,
    REMINDER_HOURS,
    SOLVE_WITHIN,
    EntryKind,
    Incident,
    IncidentEntry,
    IncidentFlag,
    IncidentNotice,
    IncidentNoticeRecipient,
    IncidentReminder,
    IncidentTenant,
    Scope,
    Source,
    seal_report,
)


class IncidentError(ValueError):
    """Input the breach process refuses; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Details:
    """What a breach report says [TEK-breach-content; GDPR art. 33(3)]."""

    title: str
    detected_at: datetime
    aware_at: datetime
    nature: list[str]
    description: str = ""
    systems: str = ""
    subject_categories: str = ""
    subjects_approx: int | None = None
    record_categories: str = ""
    records_approx: int | None = None
    consequences: str = ""
    measures_taken: str = ""
    measures_proposed: str = ""
    contact: str = ""
    severity_dpc: int | None = None
    severity_ei: float | None = None
    severity_cb: float | None = None
    severity_justification: str = ""
    solution_target_at: datetime | None = None
    solution_target_reason: str = ""


def _check(details: Details, now: datetime) -> None:
    if details.aware_at < details.detected_at:
        raise IncidentError("aware_at", "Awareness cannot come before detection.")
    if details.aware_at > now + timedelta(minutes=5):
        raise IncidentError("aware_at", "Awareness cannot be in the future.")
    if not details.nature:
        raise IncidentError("nature", "Choose at least one: confidentiality, integrity or availability.")
    if (details.severity_dpc is None) != (details.severity_ei is None):
        raise IncidentError("severity_dpc", "Give both the data processing context and the ease of identification.")
    if details.severity_dpc is not None and not details.severity_justification.strip():
        raise IncidentError("severity_justification", "Say why the severity inputs were chosen.")


def _solution_target(details: Details) -> datetime:
    default = details.aware_at + SOLVE_WITHIN
    target = details.solution_target_at or default
    if target > default and not details.solution_target_reason.strip():
        raise IncidentError("solution_target_reason",
                            "A solution later than 48 hours after awareness needs a recorded reason.")
    return target


def _new_incident(details: Details, *, source: Source, scope: Scope, scope_detail: str = "",
                  sealed_for: uuid.UUID | None = None) -> Incident:
    """A new incident row; with `sealed_for` (the reporting tenant) its text is stored encrypted
    under that tenant's key and the plain columns keep only a neutral placeholder."""
    target = _solution_target(details)
    incident_id = uuid.uuid4()
    texts = {"title": details.title[:200], "description": details.description, "systems": details.systems,
             "subject_categories": details.subject_categories, "record_categories": details.record_categories,
             "consequences": details.consequences, "measures_taken": details.measures_taken,
             "measures_proposed": details.measures_proposed, "contact": details.contact[:400]}
    sealed = None
    if sealed_for is not None:
        sealed = seal_report(incident_id, sealed_for, texts)
        texts = {k: "" for k in texts} | {"title": "Breach reported by a tenant"}
    return Incident(
        id=incident_id, source=source.value, scope=scope.value, scope_detail=scope_detail[:200],
        detected_at=details.detected_at, aware_at=details.aware_at, _title=texts["title"],
        nature_confidentiality="confidentiality" in details.nature,
        nature_integrity="integrity" in details.nature,
        nature_availability="availability" in details.nature,
        _description=texts["description"], _systems=texts["systems"],
        _subject_categories=texts["subject_categories"], subjects_approx=details.subjects_approx,
        _record_categories=texts["record_categories"], records_approx=details.records_approx,
        _consequences=texts["consequences"], _measures_taken=texts["measures_taken"],
        _measures_proposed=texts["measures_proposed"], _contact=texts["contact"], sealed_report=sealed,
        severity_dpc=details.severity_dpc, severity_ei=details.severity_ei, severity_cb=details.severity_cb,
        severity_justification=details.severity_justification,
        plan_due_at=details.aware_at + PLAN_WITHIN, notify_due_at=details.aware_at + NOTIFY_WITHIN,
        solution_target_at=target, solution_target_reason=details.solution_target_reason,
        created_at=clock.now(),
    )


def active_tenants() -> list[Tenant]:
    return list(db.session.execute(
        sa.select(Tenant).where(Tenant.status != TenantStatus.DELETED).order_by(Tenant.slug)).scalars())


def subprocessor_tenants(subprocessor_ids: list[uuid.UUID]) -> list[Tenant]:
    """The tenants for which any of the subprocessors is active per the registry: one that a
    tenant objected to, was exempted from or has not yet accepted never touched its data."""
    from tenantry.dpa.registry import services as registry
    from tenantry.dpa.registry.models import Subprocessor, TenantSubprocessor
    from tenantry.dpa.registry.models import TenantStatus as SubStatus

    wanted = set(subprocessor_ids)
    if not wanted:
        return []
    with all_tenants():
        subs = list(db.session.execute(sa.select(Subprocessor).where(Subprocessor.id.in_(wanted))).scalars())
        rows = {(r.tenant_id, r.subprocessor_id): r for r in db.session.execute(
            sa.select(TenantSubprocessor).where(TenantSubprocessor.subprocessor_id.in_(wanted))).scalars()}
        return [t for t in active_tenants()
                if any(registry.status_for(sub, rows.get((t.id, sub.id)), t) == SubStatus.ACTIVE for sub in subs)]


def subprocessor_choices() -> list[tuple[str, str]]:
    """Subprocessors the DPO may name as affected: every entry not retired or withdrawn."""
    from tenantry.dpa.registry.models import Status, Subprocessor

    subs = db.session.execute(sa.select(Subprocessor).where(Subprocessor.status != Status.RETIRED.value)
                              .order_by(Subprocessor.legal_name)).scalars()
    return [(str(s.id), f"{s.legal_name} ({s.purpose})"[:200]) for s in subs]


def resolve_tenants(scope: Scope, chosen: list[uuid.UUID],
                    subprocessor_ids: list[uuid.UUID] | None = None, system: str = "") -> list[Tenant]:
    """Which tenants an incident affects. An affected subprocessor reaches exactly the tenants it
    is active for; an affected system the tenants that use it (every tenant for a core system),
    and the DPO may narrow that down further by choosing tenants."""
    if scope == Scope.SUBPROCESSOR:
        return subprocessor_tenants(subprocessor_ids or [])
    tenants = active_tenants()
    if scope == Scope.SYSTEM:
        inventory = systems.get(system)
        if inventory is not None and inventory.tenant_ids is not None:
            users = inventory.tenant_ids()
            tenants = [t for t in tenants if t.id in users]
    if scope == Scope.CHOSEN or (scope == Scope.SYSTEM and chosen):
        wanted = set(chosen)
        tenants = [t for t in tenants if t.id in wanted]
    return tenants


def log_incident(details: Details, *, staff: StaffUser, scope: Scope, tenant_ids: list[uuid.UUID],
                 scope_detail: str = "", subprocessor_ids: list[uuid.UUID] | None = None) -> Incident:
    now = clock.now()
    _check(details, now)
    subprocessor_ids = list(subprocessor_ids or [])
    data = None
    if scope == Scope.SUBPROCESSOR:
        from tenantry.dpa.registry.models import Subprocessor

        subs = list(db.session.execute(sa.select(Subprocessor).where(Subprocessor.id.in_(subprocessor_ids))
                                       .order_by(Subprocessor.legal_name)).scalars())
        if not subs:
            raise IncidentError("subprocessors", "Choose the affected subprocessors from the registry.")
        scope_detail = ", ".join(s.legal_name for s in subs)
        data = {"subprocessors": [str(s.id) for s in subs]}
    elif scope == Scope.SYSTEM and systems.get(scope_detail) is None:
        raise IncidentError("scope_detail", "Choose the affected system from the inventory.")
    tenants = resolve_tenants(scope, tenant_ids, subprocessor_ids, system=scope_detail)
    if scope == Scope.SYSTEM:
        data = {"system": scope_detail}
        # The register keeps the system's name as it was called when the incident was logged.
        scope_detail = systems.label(scope_detail)
    if not tenants:
        if scope == Scope.SUBPROCESSOR:
            raise IncidentError("subprocessors", "No tenant has the chosen subprocessors active.")
        if scope == Scope.SYSTEM and not tenant_ids:
            raise IncidentError("scope_detail", "No tenant uses the chosen system.")
        raise IncidentError("tenants", "Choose at least one affected tenant.")
    incident = _new_incident(details, source=Source.PROCESSOR, scope=scope, scope_detail=scope_detail)
    incident.logged_by_staff_id = staff.id
    db.session.add(incident)
    db.session.flush()
    _entry(incident, EntryKind.LOGGED, staff=staff, body=f"Incident logged; {len(tenants)} tenant(s) affected.",
           data=data)
    for tenant in tenants:
        with tenant_context(tenant):
            db.session.add(IncidentTenant(tenant_id=tenant.id, incident_id=incident.id, added_at=now))
    audit.record("incident.logged", actor=staff, target_type="incident", target_id=incident.id,
                 details={"scope": scope.value, "tenants": len(tenants), "severity": incident.severity})
    return incident


def report_by_tenant(details: Details, *, tenant: Tenant, user: User) -> Incident:
    """A tenant tells the processor of a breach on its side [DPA-3.3]: it lands on the DPO desk
    with its own clock, counted from now, when the processor became aware."""
    now = clock.now()
    _check(details, now)
    tenant_detected, tenant_aware = details.detected_at, details.aware_at
    details.solution_target_at = None
    details.detected_at = details.aware_at = now
    incident = _new_incident(details, source=Source.TENANT, scope=Scope.CHOSEN, sealed_for=tenant.id)
    incident.reported_by_tenant_id = tenant.id
    incident.reported_by_user_id = user.id
    db.session.add(incident)
    db.session.flush()
    _entry(incident, EntryKind.LOGGED, user=user,
           body="Reported by the tenant.",
           data={"tenant_detected_at": tenant_detected.isoformat(), "tenant_aware_at": tenant_aware.isoformat()})
    db.session.add(IncidentTenant(tenant_id=tenant.id, incident_id=incident.id, added_at=now))
    dpo = current_app.extensions["tenantry.settings"].dpo_email
    body = (f"Tenant {tenant.name} ({tenant.slug}) reported a personal-data breach.\n\n"
            f"Reply and assess by {incident.notify_due_at:%Y-%m-%d %H:%M} UTC. Open the DPO desk for details.")
    # The report's text stays encrypted in the register; the notices name the case only.
    notify.create("incident.reported", subject=f"Breach reported by {tenant.name}", body=body, to_email=dpo,
                  tenant_id=tenant.id)
    for staff in _desk_staff(roles=(StaffRole.DPO,)):
        notify.create("incident.reported", subject=f"Breach reported by {tenant.name}", body=body,
                      recipient=staff, in_app=True, email=False)
    audit.record("incident.reported", actor=user, tenant_id=tenant.id, target_type="incident",
                 target_id=incident.id)
    return incident


def _entry(incident: Incident, kind: EntryKind, *, staff: StaffUser | None = None, user: User | None = None,
           body: str = "", data: dict | None = None, corrects: uuid.UUID | None = None) -> IncidentEntry:
    entry = IncidentEntry(id=uuid.uuid4(), incident_id=incident.id, kind=kind.value, body=body, data=data,
                          staff_id=staff.id if staff else None, user_id=user.id if user else None,
                          corrects_entry_id=corrects, at=clock.now())
    db.session.add(entry)
    db.session.flush()
    return entry


def add_entry(incident: Incident, kind: EntryKind, *, staff: StaffUser, body: str, data: dict | None = None,
              corrects: uuid.UUID | None = None) -> IncidentEntry:
    """Record a step: action plan, internal note, correction, new target, solution, authority, closure."""
    if kind in (EntryKind.LOGGED, EntryKind.UPDATE):
        raise IncidentError("kind", "Use the incident form or a follow-up update for this.")
    if not body.strip():
        raise IncidentError("body", "Write what happened or what was decided.")
    if is_closed(incident):
        raise IncidentError("kind", "This incident is closed; it takes no further entries.")
    if kind == EntryKind.TARGET:
        target = (data or {}).get("target_at")
        if not isinstance(target, datetime):
            raise IncidentError("target_at", "Give the new solution target.")
        data = {"target_at": target.isoformat()}
        if target > incident.aware_at + SOLVE_WITHIN and len(body.strip()) < 10:
            raise IncidentError("body", "A target beyond 48 hours after awareness needs its reason.")
    if kind == EntryKind.AUTHORITY:
        told_at = (data or {}).get("notified_at")
        reference = str((data or {}).get("reference") or "").strip()
        if not isinstance(told_at, datetime):
            raise IncidentError("notified_at", "Say when the supervisory authority was told.")
        data = {"notified_at": told_at.isoformat(), "reference": reference[:200],
                "notified": bool((data or {}).get("notified", True))}
    if kind == EntryKind.CORRECTION and corrects is not None:
        target_entry = db.session.get(IncidentEntry, corrects)
        if target_entry is None or target_entry.incident_id != incident.id:
            raise IncidentError("corrects", "That entry is not part of this incident.")
    entry = _entry(incident, kind, staff=staff, body=body, data=data, corrects=corrects)
    audit.record(f"incident.{kind.value}", actor=staff, target_type="incident", target_id=incident.id,
                 details={"entry": str(entry.id)})
    return entry


def entries(incident_id: uuid.UUID, *, shared_only: bool = False) -> list[IncidentEntry]:
    rows = db.session.execute(sa.select(IncidentEntry).where(IncidentEntry.incident_id == incident_id)
                              .order_by(IncidentEntry.at, IncidentEntry.id)).scalars()
    return [e for e in rows if e.shared or not shared_only]


def _first(incident_id: uuid.UUID, kind: EntryKind) -> IncidentEntry | None:
    return db.session.execute(
        sa.select(IncidentEntry).where(IncidentEntry.incident_id == incident_id, IncidentEntry.kind == kind.value)
        .order_by(IncidentEntry.at).limit(1)).scalar_one_or_none()


def is_closed(incident: Incident) -> bool:
    return _first(incident.id, EntryKind.CLOSED) is not None


def solution_target(incident: Incident) -> datetime:
    latest = db.session.execute(
        sa.select(IncidentEntry).where(IncidentEntry.incident_id == incident.id,
                                       IncidentEntry.kind == EntryKind.TARGET.value)
        .order_by(IncidentEntry.at.desc()).limit(1)).scalar_one_or_none()
    if latest is None:
        return incident.solution_target_at
    return datetime.fromisoformat(latest.data["target_at"])


def authority(incident: Incident) -> dict | None:
    latest = db.session.execute(
        sa.select(IncidentEntry).where(IncidentEntry.incident_id == incident.id,
                                       IncidentEntry.kind == EntryKind.AUTHORITY.value)
        .order_by(IncidentEntry.at.desc()).limit(1)).scalar_one_or_none()
    return latest.data if latest is not None else None


# --- notices to tenants ------------------------------------------------------------------


def affected(incident_id: uuid.UUID) -> list[IncidentTenant]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(IncidentTenant).where(IncidentTenant.incident_id == incident_id)).scalars())


def notices(incident_id: uuid.UUID) -> list[IncidentNotice]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(IncidentNotice).where(IncidentNotice.incident_id == incident_id)
            .order_by(IncidentNotice.sent_at)).scalars())


def unnotified_tenant_ids(incident_id: uuid.UUID) -> set[uuid.UUID]:
    told = {n.tenant_id for n in notices(incident_id) if n.initial}
    return {t.tenant_id for t in affected(incident_id)} - told


def _owners(tenant_id: uuid.UUID) -> list[User]:
    return list(db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.role == "owner", User.active.is_(True))
        .order_by(User.email)).scalars())


def notice_text(incident: Incident, tenant: Tenant, *, update: IncidentEntry | None = None) -> tuple[str, str]:
    """The notice's subject and body: the content GDPR art. 33(3) asks for."""
    if update is not None:
        subject = f"Update on security incident: {incident.title}"
        lead = f"An update on the personal-data breach we told you about.\n\n{update.body}"
    else:
        subject = f"Personal-data breach notice: {incident.title}"
        lead = (f"We are writing to {tenant.name} as your data processor: a personal-data breach may affect "
                f"data we process for you.")

    def n(value):
        return "unknown" if value is None else f"about {value}"

    parts = [
        lead,
        f"When: detected {incident.detected_at:%Y-%m-%d %H:%M} UTC; we became aware {incident.aware_at:%Y-%m-%d %H:%M} UTC.",
        f"Nature of the breach: loss of {', '.join(incident.nature)}. {incident.description}".strip(),
        f"Systems involved: {incident.systems or 'being established'}.",
        f"Data subjects: {incident.subject_categories or 'being established'} ({n(incident.subjects_approx)}). "
        f"Records: {incident.record_categories or 'being established'} ({n(incident.records_approx)}).",
        f"Likely consequences: {incident.consequences or 'being assessed'}.",
        f"Measures taken: {incident.measures_taken or 'none yet'}. Measures proposed: {incident.measures_proposed or 'none yet'}.",
        f"Severity (ENISA method): {incident.severity or 'being assessed'}.",
        f"Contact point: {incident.contact}.",
        "Please acknowledge this notice in Tenantry under Notices or Incidents.",
    ]
    return subject, "\n\n".join(parts)


def _send(incident: Incident, tenant: Tenant, *, staff: StaffUser, initial: bool,
          entry: IncidentEntry | None, now: datetime) -> IncidentNotice:
    subject, body = notice_text(incident, tenant, update=None if initial else entry)
    late = max(0, int((now - incident.notify_due_at).total_seconds())) if initial else 0
    with tenant_context(tenant):
        notice = IncidentNotice(id=uuid.uuid4(), tenant_id=tenant.id, incident_id=incident.id,
                                entry_id=entry.id if entry else None, initial=initial, sent_at=now,
                                sent_by_staff_id=staff.id, due_at=incident.notify_due_at, late_seconds=late)
        db.session.add(notice)
        db.session.flush()
        notes: list[Notification] = []
        owners = _owners(tenant.id)
        for owner in owners:
            notes.append(notify.create("incident.notice", subject=subject, body=body, recipient=owner,
                                       tenant_id=tenant.id, in_app=True, email=True, requires_ack=True))
        contact = (tenant.privacy_contact_email or "").strip()
        if contact and contact.lower() not in {o.email.lower() for o in owners}:
            notes.append(notify.create("incident.notice", subject=subject, body=body, to_email=contact,
                                       tenant_id=tenant.id))
        db.session.flush()
        for note in notes:
            db.session.add(IncidentNoticeRecipient(tenant_id=tenant.id, notice_id=notice.id,
                                                   notification_id=note.id))
    audit.record("incident.notice_sent", actor=staff, tenant_id=tenant.id, target_type="incident",
                 target_id=incident.id, details={"initial": initial, "recipients": len(notes),
                                                 "late_seconds": late})
    return notice


def notify_tenants(incident: Incident, *, staff: StaffUser) -> list[IncidentNotice]:
    """The one click: every affected tenant not yet told gets the notice, by e-mail and in the product."""
    now = clock.now()
    pending = unnotified_tenant_ids(incident.id)
    if not pending:
        raise IncidentError("notify", "Every affected tenant has been notified already.")
    with all_tenants():
        tenants = list(db.session.execute(sa.select(Tenant).where(Tenant.id.in_(pending))
                                          .order_by(Tenant.slug)).scalars())
    sent = [_send(incident, t, staff=staff, initial=True, entry=None, now=now) for t in tenants]
    return sent


def send_update(incident: Incident, *, staff: StaffUser, body: str) -> IncidentEntry:
    """Information given in phases: a timeline entry, sent to every tenant already notified."""
    if not body.strip():
        raise IncidentError("body", "Write the update.")
    if is_closed(incident):
        raise IncidentError("body", "This incident is closed.")
    told = {n.tenant_id for n in notices(incident.id) if n.initial}
    if not told:
        raise IncidentError("body", "Notify the tenants first; updates follow the first notice.")
    now = clock.now()
    entry = _entry(incident, EntryKind.UPDATE, staff=staff, body=body)
    with all_tenants():
        tenants = list(db.session.execute(sa.select(Tenant).where(Tenant.id.in_(told))
                                          .order_by(Tenant.slug)).scalars())
    for tenant in tenants:
        _send(incident, tenant, staff=staff, initial=False, entry=entry, now=now)
    return entry


def recipients(incident_id: uuid.UUID) -> list[tuple[IncidentNotice, Notification]]:
    """Per-recipient delivery of every notice of the incident, for the DPO desk."""
    with all_tenants():
        rows = db.session.execute(
            sa.select(IncidentNotice, Notification)
            .join(IncidentNoticeRecipient, sa.and_(IncidentNoticeRecipient.tenant_id == IncidentNotice.tenant_id,
                                                   IncidentNoticeRecipient.notice_id == IncidentNotice.id))
            .join(Notification, Notification.id == IncidentNoticeRecipient.notification_id)
            .where(IncidentNotice.incident_id == incident_id)
            .order_by(IncidentNotice.sent_at, Notification.to_email)).all()
    return [(n, note) for n, note in rows]


def tenant_notifications(incident_id: uuid.UUID, tenant_id: uuid.UUID) -> list[tuple[IncidentNotice, Notification]]:
    return [(n, note) for n, note in recipients(incident_id) if n.tenant_id == tenant_id]


def acknowledge(incident_id: uuid.UUID, tenant_id: uuid.UUID, user: User) -> int:
    """The tenant member acknowledges every notice of the incident addressed to them."""
    count = 0
    for _notice, note in tenant_notifications(incident_id, tenant_id):
        if note.user_id == user.id and note.requires_ack and note.acknowledged_at is None:
            notify.acknowledge(note, user)
            count += 1
    if count:
        audit.record("incident.acknowledged", actor=user, tenant_id=tenant_id, target_type="incident",
                     target_id=incident_id, details={"notices": count})
    return count


# --- the sweep -----------------------------------------------------------------------------


def open_incidents() -> list[Incident]:
    closed = sa.select(IncidentEntry.incident_id).where(IncidentEntry.kind == EntryKind.CLOSED.value)
    return list(db.session.execute(sa.select(Incident).where(Incident.id.not_in(closed))
                                   .order_by(Incident.aware_at)).scalars())


def _desk_staff(roles=(StaffRole.DPO, StaffRole.PLATFORM_ADMIN)) -> list[StaffUser]:
    return list(db.session.execute(sa.select(StaffUser).where(StaffUser.role.in_([r.value for r in roles]),
                                                             StaffUser.active.is_(True))).scalars())


def remind(as_of: datetime) -> int:
    """Reminders at 24, 36 and 44 h to the DPO and platform admins while tenants are not yet told.
    A reminder row per threshold makes each go once; a sweep that wakes late sends only the latest."""
    sent = 0
    for incident in open_incidents():
        if not unnotified_tenant_ids(incident.id):
            continue
        done = set(db.session.execute(sa.select(IncidentReminder.hours)
                                      .where(IncidentReminder.incident_id == incident.id)).scalars())
        due = [h for h in REMINDER_HOURS if as_of >= incident.aware_at + timedelta(hours=h) and h not in done]
        if not due:
            continue
        for hours in due:
            db.session.add(IncidentReminder(incident_id=incident.id, hours=hours, at=as_of,
                                            sent=hours == due[-1]))
        hours = due[-1]
        left = incident.notify_due_at - as_of
        subject = f"Reminder ({hours} h): tenants not yet notified of {incident.title}"
        body = (f"{hours} hours have passed since awareness of the incident \u201c{incident.title}\u201d. "
                f"Affected tenants must be notified by {incident.notify_due_at:%Y-%m-%d %H:%M} UTC "
                f"({max(0, int(left.total_seconds() // 3600))} h left). Open the DPO desk to notify them.")
        for staff in _desk_staff():
            notify.create("incident.reminder", subject=subject, body=body, recipient=staff, in_app=True)
        audit.record("incident.reminder", actor_type="system", target_type="incident", target_id=incident.id,
                     details={"hours": hours})
        db.session.flush()
        sent += 1
    return sent


def flag_overdue(as_of: datetime) -> int:
    """Deadlines passed unmet become a flag row, once; the desk shows them red from then on."""
    flagged = 0
    for incident in open_incidents():
        have = set(db.session.execute(sa.select(IncidentFlag.deadline)
                                      .where(IncidentFlag.incident_id == incident.id)).scalars())
        checks = {
            "plan": (incident.plan_due_at, _first(incident.id, EntryKind.PLAN) is None),
            "notify": (incident.notify_due_at, bool(unnotified_tenant_ids(incident.id))),
            "solution": (solution_target(incident), _first(incident.id, EntryKind.SOLUTION) is None),
        }
        for name, (due, unmet) in checks.items():
            if name not in have and unmet and as_of > due:
                db.session.add(IncidentFlag(incident_id=incident.id, deadline=name, flagged_at=as_of))
                audit.record("incident.overdue", actor_type="system", target_type="incident",
                             target_id=incident.id, details={"deadline": name})
                flagged += 1
    db.session.flush()
    return flagged


# --- status for the desk and the register -------------------------------------------------


@dataclass
class Deadline:
    name: str
    due_at: datetime
    done_at: datetime | None
    flagged: bool

    @property
    def late_seconds(self) -> int:
        end = self.done_at or clock.now()
        return max(0, int((end - self.due_at).total_seconds()))

    @property
    def overdue(self) -> bool:
        return self.late_seconds > 0 or self.flagged

    @property
    def left_seconds(self) -> int:
        return int((self.due_at - clock.now()).total_seconds())


def deadlines(incident: Incident) -> list[Deadline]:
    flags = set(db.session.execute(sa.select(IncidentFlag.deadline)
                                   .where(IncidentFlag.incident_id == incident.id)).scalars())
    plan = _first(incident.id, EntryKind.PLAN)
    solution = _first(incident.id, EntryKind.SOLUTION)
    initial = [n for n in notices(incident.id) if n.initial]
    all_told = not unnotified_tenant_ids(incident.id)
    notified_at = max((n.sent_at for n in initial), default=None) if all_told else None
    return [
        Deadline("Action plan", incident.plan_due_at, plan.at if plan else None, "plan" in flags),
        Deadline("Tenants notified", incident.notify_due_at, notified_at, "notify" in flags),
        Deadline("Solution", solution_target(incident), solution.at if solution else None, "solution" in flags),
    ]


def duration(seconds: int) -> str:
    seconds = abs(int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min"


# --- the breach register ---------------------------------------------------------------------

REGISTER_COLUMNS = [
    "id", "source", "title", "detected_at", "aware_at", "nature", "systems", "subject_categories",
    "subjects_approx", "record_categories", "records_approx", "consequences", "measures_taken",
    "measures_proposed", "contact", "severity_dpc", "severity_ei", "severity_cb", "severity_score", "severity",
    "severity_justification", "plan_due_at", "notify_due_at", "solution_target_at", "authority_notified_at",
    "authority_reference", "tenants_affected", "tenants_notified", "notified_late_seconds_max", "timeline",
]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def register_entry(incident: Incident, *, tenant_id: uuid.UUID | None = None) -> dict:
    """One incident as the register shows it: the record, its timeline, its remedial measures.
    For a tenant, only its own notices and the entries tenants see."""
    timeline = [{"at": _iso(e.at), "kind": e.kind, "text": e.body, "corrects": str(e.corrects_entry_id or "") or None,
                 **({"data": e.data} if e.data else {})}
                for e in entries(incident.id, shared_only=tenant_id is not None)]
    sent = [n for n in notices(incident.id) if n.initial and (tenant_id is None or n.tenant_id == tenant_id)]
    told = authority(incident) or {}
    return {
        "id": str(incident.id), "source": incident.source, "title": incident.title,
        "detected_at": _iso(incident.detected_at), "aware_at": _iso(incident.aware_at),
        "nature": ", ".join(incident.nature), "systems": incident.systems,
        "subject_categories": incident.subject_categories, "subjects_approx": incident.subjects_approx,
        "record_categories": incident.record_categories, "records_approx": incident.records_approx,
        "consequences": incident.consequences, "measures_taken": incident.measures_taken,
        "measures_proposed": incident.measures_proposed, "contact": incident.contact,
        "severity_dpc": incident.severity_dpc, "severity_ei": incident.severity_ei,
        "severity_cb": incident.severity_cb, "severity_score": incident.severity_score,
        "severity": incident.severity, "severity_justification": incident.severity_justification,
        "plan_due_at": _iso(incident.plan_due_at), "notify_due_at": _iso(incident.notify_due_at),
        "solution_target_at": _iso(solution_target(incident)),
        "authority_notified_at": told.get("notified_at"), "authority_reference": told.get("reference"),
        "tenants_affected": 1 if tenant_id else len(affected(incident.id)),
        "tenants_notified": len(sent),
        "notified_late_seconds_max": max((n.late_seconds for n in sent), default=None),
        "timeline": timeline,
    }


def register(*, tenant_id: uuid.UUID | None = None) -> list[dict]:
    query = sa.select(Incident).order_by(Incident.aware_at)
    if tenant_id is not None:
        # Scoped to the current tenant by the ORM (and RLS): only incidents that concern it.
        query = query.join(IncidentTenant, IncidentTenant.incident_id == Incident.id)
    return [register_entry(i, tenant_id=tenant_id) for i in db.session.execute(query).scalars()]


def register_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REGISTER_COLUMNS)
    for row in rows:
        flat = dict(row)
        flat["timeline"] = "\n".join(f"{e['at']} {e['kind']}: {e['text']}" for e in row["timeline"])
        writer.writerow([safe_cell(flat.get(c)) for c in REGISTER_COLUMNS])
    return out.getvalue()


def register_json(rows: list[dict]) -> str:
    return json.dumps({"generated_at": clock.now().isoformat(), "incidents": rows}, indent=2, ensure_ascii=False)
