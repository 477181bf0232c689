"""Opening, answering and closing data subject requests; plain functions over the current tenant.

Every step is one history event on the request and one audit event (ids, kinds and field
names only). The views commit; an exception here leaves nothing written once rolled back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import audit, clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import all_tenants, current_tenant
from tenantry.tenants.crm import activities
from tenantry.tenants.crm import contacts as crm_contacts
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal

from . import deadlines, finder
from .models import (
    CLOSED,
    ERASURE,
    KINDS,
    NOTIFY_KINDS,
    OBJECTION,
    OPEN,
    RESTRICTION,
    SubjectRequest,
    SubjectRequestEvent,
    SubjectRequestRecipient,
)

TARGET = "subject_request"
# Members who exported the person's data within this many days are listed as recipients.
EXPORT_LOOKBACK_DAYS = 90
EXPORT_ACTIONS = ("crm.contacts.exported", "export.downloaded")
LIST_LIMIT = 200


class Refused(ValueError):
    """Not possible now; `field` names the form field the message belongs next to (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- reading -----------------------------------------------------------------------------------


def get(request_id: uuid.UUID) -> SubjectRequest | None:
    return db.session.get(SubjectRequest, request_id)


def open_requests() -> list[SubjectRequest]:
    return list(db.session.execute(
        sa.select(SubjectRequest).where(SubjectRequest.status == OPEN)
        .order_by(SubjectRequest.due_at, SubjectRequest.id)).scalars())


def open_request_blocks_merge(contact_id: uuid.UUID) -> str | None:
    """Why a contact may not be merged into another (crm/duplicates.py) now: an open request
    is answered for the person as recorded, and would lose its contact."""
    found = db.session.execute(sa.select(SubjectRequest.id).where(
        SubjectRequest.contact_id == contact_id, SubjectRequest.status == OPEN).limit(1)).first()
    return ("A data subject request about this contact is open; close it before merging the contact."
            if found else None)


def closed_requests(limit: int = LIST_LIMIT) -> list[SubjectRequest]:
    return list(db.session.execute(
        sa.select(SubjectRequest).where(SubjectRequest.status == CLOSED)
        .order_by(SubjectRequest.closed_at.desc(), SubjectRequest.id).limit(limit)).scalars())


def terms_of(req: SubjectRequest) -> finder.Terms:
    return finder.Terms(name=req.reveal("subject_name"), email=req.reveal("subject_email"),
                        phone=req.reveal("subject_phone"))


def contact_of(req: SubjectRequest) -> Contact | None:
    return crm_contacts.get(req.contact_id) if req.contact_id else None


def findings(req: SubjectRequest) -> finder.Findings:
    return finder.find(terms_of(req), contact_of(req))


def history(req: SubjectRequest) -> list[SubjectRequestEvent]:
    return list(db.session.execute(
        sa.select(SubjectRequestEvent).where(SubjectRequestEvent.request_id == req.id)
        .order_by(SubjectRequestEvent.occurred_at, SubjectRequestEvent.id)).scalars())


def user_names(ids) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    with all_tenants():
        return {str(u.id): u.display_name for u in
                db.session.execute(sa.select(User).where(User.id.in_(wanted))).scalars()}


def can_extend(req: SubjectRequest, now: datetime | None = None) -> bool:
    now = now or clock.now()
    return req.is_open and req.extended_at is None and now < deadlines.first_due(req.received_at)


def backup_retention_days() -> int:
    return current_app.extensions["tenantry.settings"].backup_retention_days


# --- writing helpers ---------------------------------------------------------------------------


def _event(req: SubjectRequest, action: str, *, actor, details: dict | None = None, note: str = "") -> None:
    event = SubjectRequestEvent(id=uuid.uuid4(), tenant_id=req.tenant_id, request_id=req.id,
                                occurred_at=clock.now(), actor_id=getattr(actor, "id", None), action=action,
                                details=details or None)
    event.seal("note", note)
    db.session.add(event)


def _audit(req: SubjectRequest, action: str, *, actor, details: dict | None = None, changes=None) -> None:
    audit.record(f"dsr.request.{action}", actor=actor, tenant_id=req.tenant_id, target_type=TARGET,
                 target_id=req.id, details={"kind": req.kind, **(details or {})}, changes=changes)


def _contact_step(req: SubjectRequest, contact: Contact, step: str, crm_action: str, *, actor, note: str = "") -> None:
    """A restriction or objection set or lifted: on the request's history, in the trail as a
    step of the request and as a change of the contact."""
    details = {"contact_id": str(contact.id)}
    _event(req, step, actor=actor, details=details, note=note)
    _audit(req, step, actor=actor, details=details)
    audit.record(f"crm.contact.{crm_action}", actor=actor, tenant_id=req.tenant_id, target_type="contact",
                 target_id=contact.id, details={"request_id": str(req.id)})


def _require_open(req: SubjectRequest) -> None:
    if not req.is_open:
        raise Refused("This request is closed; open a new one for a new request.")


def _require_kind(req: SubjectRequest, *kinds: str) -> None:
    if req.kind not in kinds:
        raise Refused("This action does not belong to this kind of request.")


def _require_contact(req: SubjectRequest) -> Contact:
    contact = contact_of(req)
    if contact is None:
        raise Refused("Identify the person's contact record first.")
    return contact


# --- opening -----------------------------------------------------------------------------------


def open_request(kind: str, terms: finder.Terms, details: str = "", *, actor) -> SubjectRequest:
    if kind not in KINDS:
        raise Refused("Choose the kind of request.", "kind")
    if not terms.any():
        raise Refused("Enter the person's name, e-mail or phone.", "name")
    now = clock.now()
    req = SubjectRequest(id=uuid.uuid4(), tenant_id=current_tenant.id, kind=kind, status=OPEN, received_at=now,
                         due_at=deadlines.first_due(now), opened_by_id=getattr(actor, "id", None))
    req.seal("subject_name", terms.name.strip())
    req.seal("subject_email", terms.email.strip())
    req.seal("subject_phone", terms.phone.strip())
    req.seal("details", details.strip())
    candidates = finder.candidate_contacts(terms)
    if len(candidates) == 1:
        req.contact_id = candidates[0].id
    db.session.add(req)
    db.session.flush()
    _event(req, "opened", actor=actor, details={"candidates": len(candidates),
                                                "contact_id": str(req.contact_id) if req.contact_id else None})
    _audit(req, "opened", actor=actor, details={"contact_id": str(req.contact_id) if req.contact_id else None})
    if kind in NOTIFY_KINDS:
        refresh_recipients(req)
    db.session.flush()
    return req


def link_contact(req: SubjectRequest, contact_id: uuid.UUID | None, *, actor) -> Contact:
    _require_open(req)
    if req.action_done_at is not None:
        raise Refused("The request was already carried out for its contact.")
    matches = {c.id: c for c in finder.candidate_contacts(terms_of(req))}
    contact = matches.get(contact_id) if contact_id else None
    if contact is None:
        raise Refused("Choose one of the contacts the search found.", "contact_id")
    req.contact_id = contact.id
    _event(req, "contact_linked", actor=actor, details={"contact_id": str(contact.id)})
    _audit(req, "contact_linked", actor=actor, details={"contact_id": str(contact.id)})
    if req.kind in NOTIFY_KINDS:
        refresh_recipients(req)
    db.session.flush()
    return contact


# --- deadline ----------------------------------------------------------------------------------


def extend(req: SubjectRequest, reason: str, *, actor) -> None:
    """Two more months, once, with the reason, and only within the first month [DSR-deadline]."""
    _require_open(req)
    if req.extended_at is not None:
        raise Refused("This request was already extended; it can be extended only once.", "reason")
    now = clock.now()
    if now >= deadlines.first_due(req.received_at):
        raise Refused("The first month after receipt has passed: the deadline can be extended only within it "
                      f"(until {deadlines.first_due(req.received_at):%Y-%m-%d %H:%M} UTC).", "reason")
    if not reason.strip():
        raise Refused("Give the reason for the extension; the person is told of it.", "reason")
    req.extended_at, req.extended_by_id = now, getattr(actor, "id", None)
    req.due_at = deadlines.extended_due(req.received_at)
    req.seal("extension_reason", reason.strip())
    _event(req, "extended", actor=actor, details={"due_at": req.due_at.isoformat()}, note=reason.strip())
    _audit(req, "extended", actor=actor, details={"due_at": req.due_at.isoformat()})
    db.session.flush()


# --- closing -----------------------------------------------------------------------------------


def default_response(req: SubjectRequest) -> str:
    if req.kind == ERASURE and req.action_done_at is not None:
        return erasure_response(req)
    return ""


def close(req: SubjectRequest, response: str, *, actor) -> None:
    _require_open(req)
    if not response.strip():
        raise Refused("Write the response given to the person.", "response")
    now = clock.now()
    req.status, req.closed_at, req.closed_by_id = CLOSED, now, getattr(actor, "id", None)
    req.seal("response", response.strip())
    late = now > req.due_at
    _event(req, "closed", actor=actor, details={"late": late}, note=response.strip())
    _audit(req, "closed", actor=actor, details={"late": late})
    db.session.flush()


# --- rectification [DSR-rectify] ---------------------------------------------------------------


def record_rectification(req: SubjectRequest, contact: Contact, before: dict, after: dict, *, actor) -> list[str]:
    """After the contact service saved the corrected values: the changed field names on the
    request, the old and new values only in the audit event's sealed changes."""
    changes = audit.diff(before, after)
    names = sorted(changes)
    req.action_done_at = clock.now()
    _event(req, "rectified", actor=actor, details={"contact_id": str(contact.id), "fields": names})
    _audit(req, "rectified", actor=actor, details={"contact_id": str(contact.id)}, changes=changes)
    refresh_recipients(req)
    db.session.flush()
    return names


def check_rectifiable(req: SubjectRequest) -> Contact:
    _require_open(req)
    _require_kind(req, "rectification")
    return _require_contact(req)


# --- erasure [DSR-erase] -----------------------------------------------------------------------


@dataclass
class Erased:
    contacts: int = 0
    activities: int = 0
    redacted: int = 0


def erase(req: SubjectRequest, *, actor) -> Erased:
    """Delete the person's contact with its activities (and custom values), detach their deals,
    and redact their name and e-mail wherever else free text mentions them."""
    _require_open(req)
    _require_kind(req, ERASURE)
    if req.action_done_at is not None:
        raise Refused("The erasure was already carried out.")
    refresh_recipients(req)  # before the contact goes: exports of it are found by its id
    terms = terms_of(req)
    contact = contact_of(req)
    names, emails = finder.contact_names(contact), []
    result = Erased()
    if contact is not None:
        emails = contact.reveal("emails")
        result.activities = db.session.execute(sa.select(sa.func.count()).select_from(Activity).where(
            Activity.contact_id == contact.id)).scalar_one()
        crm_contacts.delete(contact, actor=actor)
        result.contacts = 1
    patterns_terms = [terms] + [finder.Terms(email=e) for e in emails if e.lower() != terms.email.strip().lower()]
    seen: set[tuple[str, uuid.UUID]] = set()
    for t in patterns_terms:
        for mention, row in finder.mentions(t, extra_names=names):
            patterns = finder._patterns(t, names)
            value = row.reveal(mention.column)
            row.seal(mention.column, finder.redact(value, patterns))
            if hasattr(row, "updated_at"):
                row.updated_at = clock.now()
            if (mention.kind, row.id) not in seen:
                seen.add((mention.kind, row.id))
                audit.record(f"crm.{mention.kind}.redacted", actor=actor, tenant_id=req.tenant_id,
                             target_type=mention.kind, target_id=row.id,
                             details={"request_id": str(req.id), "fields": [mention.column]})
        db.session.flush()
    result.redacted = len(seen)
    req.action_done_at = clock.now()
    counts = {"contacts": result.contacts, "activities": result.activities, "redacted": result.redacted}
    _event(req, "erased", actor=actor, details={"contact_id": str(req.contact_id) if req.contact_id else None,
                                                **counts, "backup_retention_days": backup_retention_days()})
    _audit(req, "erased", actor=actor, details=counts)
    db.session.flush()
    return result


def erasure_response(req: SubjectRequest) -> str:
    done = next((e for e in reversed(history(req)) if e.action == "erased"), None)
    details = (done.details or {}) if done else {}
    days = details.get("backup_retention_days", backup_retention_days())
    when = req.action_done_at or clock.now()
    return (f"Your personal data was erased from our CRM on {when:%Y-%m-%d}: {details.get('contacts', 0)} contact "
            f"record(s) deleted with {details.get('activities', 0)} activities linked to it, and {details.get('redacted', 0)} "
            "mention(s) of your name or e-mail in other records redacted. Copies of these values in existing "
            "backups are not altered; they expire with the backups, which are kept for "
            f"{days} days and then deleted.")


# --- restriction [DSR-restrict] and objection [DSR-object] --------------------------------------


def restrict(req: SubjectRequest, *, actor) -> None:
    _require_open(req)
    _require_kind(req, RESTRICTION)
    contact = _require_contact(req)
    if contact.restricted_at is not None:
        raise Refused("The contact is already restricted.")
    contact.restricted_at = req.action_done_at = clock.now()
    _contact_step(req, contact, "restricted", "restricted", actor=actor)
    refresh_recipients(req)
    db.session.flush()


def lift_restriction(req: SubjectRequest, reason: str, *, actor) -> None:
    """Also after the request is closed: a restriction lasts until it is lifted (art. 18(3):
    the person is told before)."""
    _require_kind(req, RESTRICTION)
    contact = _require_contact(req)
    if contact.restricted_at is None:
        raise Refused("The contact is not restricted.")
    if not reason.strip():
        raise Refused("Give the reason for lifting the restriction.", "reason")
    contact.restricted_at = None
    _contact_step(req, contact, "restriction_lifted", "restriction_lifted", actor=actor, note=reason.strip())
    db.session.flush()


def record_objection(req: SubjectRequest, *, actor) -> None:
    _require_open(req)
    _require_kind(req, OBJECTION)
    contact = _require_contact(req)
    if contact.objected_at is not None:
        raise Refused("The objection is already recorded on the contact.")
    contact.objected_at = req.action_done_at = clock.now()
    _contact_step(req, contact, "objection_recorded", "objected", actor=actor)
    db.session.flush()


def lift_objection(req: SubjectRequest, reason: str, *, actor) -> None:
    """The objection withdrawn, or overridden by compelling legitimate grounds (art. 21(1))."""
    _require_kind(req, OBJECTION)
    contact = _require_contact(req)
    if contact.objected_at is None:
        raise Refused("No objection is recorded on the contact.")
    if not reason.strip():
        raise Refused("Give the reason: the person withdrew it, or the compelling grounds.", "reason")
    contact.objected_at = None
    _contact_step(req, contact, "objection_lifted", "objection_lifted", actor=actor, note=reason.strip())
    db.session.flush()


# --- recipients [DSR-notify] ---------------------------------------------------------------------


def _candidates(req: SubjectRequest) -> list[tuple[str, str, str]]:
    from tenantry.dpa.registry import services as registry
    from tenantry.dpa.registry.models import TenantStatus
    from tenantry.tenants.api.models import ApiClient

    found: list[tuple[str, str, str]] = []
    for client in db.session.execute(sa.select(ApiClient).where(ApiClient.revoked_at.is_(None))
                                     .order_by(ApiClient.created_at, ApiClient.id)).scalars():
        crm = [s for s in client.scope_list if s.startswith("crm:")]
        if crm:
            found.append(("api_client", str(client.id), "API client with " + " ".join(crm)))
    for sub, status, _row in registry.for_tenant(current_tenant):
        if status == TenantStatus.ACTIVE.value:
            found.append(("subprocessor", str(sub.id), "Active subprocessor"))
    since = clock.now() - timedelta(days=EXPORT_LOOKBACK_DAYS)
    events = db.session.execute(sa.select(AuditEvent).where(
        AuditEvent.tenant_id == req.tenant_id, AuditEvent.action.in_(EXPORT_ACTIONS),
        AuditEvent.actor_type == "user", AuditEvent.occurred_at >= since).order_by(AuditEvent.id)).scalars()
    contact_id = str(req.contact_id) if req.contact_id else None
    exporters: dict[str, set[str]] = {}
    for event in events:
        if event.action == "export.downloaded":
            exporters.setdefault(event.actor_id, set()).add("full workspace export")
        elif contact_id and contact_id in ((event.details or {}).get("ids") or []):
            exporters.setdefault(event.actor_id, set()).add("contacts CSV export")
    for actor_id, why in exporters.items():
        if actor_id:
            found.append(("member", actor_id, f"Exported the data ({', '.join(sorted(why))}) "
                                              f"within {EXPORT_LOOKBACK_DAYS} days"))
    return found


def refresh_recipients(req: SubjectRequest) -> int:
    """Add whoever received the person's data and is not listed yet; returns how many were added."""
    if req.kind not in NOTIFY_KINDS:
        return 0
    have = {(r.kind, r.ref_id) for r in recipients(req)}
    added = 0
    for kind, ref_id, reason in _candidates(req):
        if (kind, ref_id) in have:
            continue
        db.session.add(SubjectRequestRecipient(id=uuid.uuid4(), tenant_id=req.tenant_id, request_id=req.id,
                                               kind=kind, ref_id=ref_id, reason=reason[:200], listed_at=clock.now()))
        have.add((kind, ref_id))
        added += 1
    db.session.flush()
    return added


def recipients(req: SubjectRequest) -> list[SubjectRequestRecipient]:
    return list(db.session.execute(
        sa.select(SubjectRequestRecipient).where(SubjectRequestRecipient.request_id == req.id)
        .order_by(SubjectRequestRecipient.kind, SubjectRequestRecipient.listed_at, SubjectRequestRecipient.id)
    ).scalars())


def recipient_names(rows: list[SubjectRequestRecipient]) -> dict[str, str]:
    from tenantry.dpa.registry.models import Subprocessor
    from tenantry.tenants.api.models import ApiClient

    names: dict[str, str] = {}

    def ids(kind):
        out = set()
        for r in rows:
            if r.kind == kind:
                try:
                    out.add(uuid.UUID(r.ref_id))
                except ValueError:
                    continue
        return out

    if wanted := ids("api_client"):
        names.update({str(c.id): c.name for c in db.session.execute(
            sa.select(ApiClient).where(ApiClient.id.in_(wanted))).scalars()})
    if wanted := ids("subprocessor"):
        names.update({str(s.id): s.legal_name for s in db.session.execute(
            sa.select(Subprocessor).where(Subprocessor.id.in_(wanted))).scalars()})
    names.update(user_names(ids("member")))
    return names


def mark_told(req: SubjectRequest, recipient_id: uuid.UUID | None, *, actor) -> SubjectRequestRecipient:
    row = db.session.execute(sa.select(SubjectRequestRecipient).where(
        SubjectRequestRecipient.request_id == req.id, SubjectRequestRecipient.id == recipient_id)
    ).scalar_one_or_none() if recipient_id else None
    if row is None:
        raise Refused("Choose one of the recipients listed.")
    if row.told_at is not None:
        raise Refused("This recipient was already marked as told.")
    row.told_at, row.told_by_id = clock.now(), getattr(actor, "id", None)
    _event(req, "recipient_told", actor=actor, details={"recipient_kind": row.kind, "recipient_id": row.ref_id})
    _audit(req, "recipient_told", actor=actor, details={"recipient_kind": row.kind, "recipient_id": row.ref_id})
    db.session.flush()
    return row


# --- what the person is given [DSR-access, DSR-portability] ---------------------------------------


def _iso(value):
    return value.isoformat() if value is not None else None


def data_about(req: SubjectRequest, found: finder.Findings | None = None) -> dict:
    """Everything about the person as one JSON-ready document."""
    from tenantry.tenants.crm import custom_fields, stages

    found = found or findings(req)
    definitions = {d.id: d.label for d in custom_fields.definitions()}
    company_names = {}
    wanted = {c.company_id for c in found.contacts if c.company_id}
    if wanted:
        company_names = {c.id: c.reveal("name") for c in db.session.execute(
            sa.select(Company).where(Company.id.in_(wanted))).scalars()}
    stage_names = {s.id: s.name for s in stages.ensure_defaults()} if found.deals else {}
    doc = {
        "format": "tenantry-subject-data",
        "format_version": 1,
        "generated_at": clock.now().isoformat(),
        "controller": {"name": current_tenant.name},
        "request": {"id": str(req.id), "kind": req.kind, "received_at": _iso(req.received_at)},
        "contacts": [], "companies": [], "activities": [], "deals": [], "mentions": [],
    }
    for c in found.contacts:
        plain = c.plain()
        custom = custom_fields.values_of(c.id)
        doc["contacts"].append({
            "id": str(c.id), **plain, "company": company_names.get(c.company_id, "") if c.company_id else "",
            "custom_fields": {definitions.get(fid, str(fid)): value for fid, value in custom.items()},
            "restricted_at": _iso(c.restricted_at), "objected_at": _iso(c.objected_at),
            "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at)})
    for co in found.companies:
        doc["companies"].append({"id": str(co.id), "country": co.country, **co.plain(),
                                 "created_at": _iso(co.created_at), "updated_at": _iso(co.updated_at)})
    for a in found.activities:
        doc["activities"].append({"id": str(a.id), "kind": a.kind, "due_on": _iso(a.due_on),
                                  "due_time": activities.time_text(a), "done": a.done,
                                  "done_at": _iso(a.done_at), "note": a.reveal("note"),
                                  "created_at": _iso(a.created_at)})
    for d in found.deals:
        doc["deals"].append({"id": str(d.id), "title": d.reveal("title"), "value": f"{d.value.normalize():f}",
                             "currency": d.currency, "stage": stage_names.get(d.stage_id, ""),
                             "expected_close": _iso(d.expected_close), "created_at": _iso(d.created_at)})
    terms = finder._with_email(terms_of(req), found.contacts)
    names = [n for c in found.contacts for n in finder.contact_names(c)]
    patterns = finder._patterns(terms, names)
    models = {"contact": Contact, "company": Company, "activity": Activity, "deal": Deal}
    for m in found.mentions:
        row = db.session.get(models[m.kind], m.row_id)
        if row is None:
            continue
        text = row.reveal(m.column)
        windows: list[list[int]] = []
        for start, end in finder.spans(text, patterns):
            start, end = max(0, start - 80), end + 80
            if windows and start <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], end)
            else:
                windows.append([start, end])
        passages = [text[start:end] for start, end in windows]
        doc["mentions"].append({"record_type": m.kind, "record_id": str(m.row_id), "field": m.column,
                                "passages": passages})
    return doc


CSV_HEADER = ("record_type", "record_id", "field", "value")


def csv_rows(doc: dict):
    """The same document flattened: one row per value."""
    for section, record_type in (("contacts", "contact"), ("companies", "company"), ("activities", "activity"),
                                 ("deals", "deal")):
        for record in doc[section]:
            for name, value in record.items():
                if name == "id":
                    continue
                if name == "custom_fields":
                    for label, v in value.items():
                        yield record_type, record["id"], f"custom: {label}", v
                elif isinstance(value, list):
                    yield record_type, record["id"], name, "; ".join(str(v) for v in value)
                else:
                    yield record_type, record["id"], name, "" if value is None else value
    for m in doc["mentions"]:
        for passage in m["passages"]:
            yield f"mention in {m['record_type']}", m["record_id"], m["field"], passage


def record_download(req: SubjectRequest, found: finder.Findings, fmt: str, *, actor) -> None:
    ids = found.ids()
    audit.record_read("dsr.request.data_exported", target_type="contact" if ids["contacts"] else TARGET,
                      target_ids=ids["contacts"] or [str(req.id)], actor=actor, tenant_id=req.tenant_id,
                      details={"request_id": str(req.id), "format": fmt,
                               "counts": {k: len(v) for k, v in ids.items()}})


def record_viewed(req: SubjectRequest, found: finder.Findings, *, actor) -> None:
    audit.record_read("dsr.request.viewed", target_type=TARGET, target_ids=[req.id], actor=actor,
                      tenant_id=req.tenant_id, details={"contacts": found.ids()["contacts"]})
