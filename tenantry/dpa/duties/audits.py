"""Audits by a controller [DPA-4.3.5] and the confidential documents shared for them [DPA-4.6].

A tenant owner requests an audit with at least one calendar month's notice and names an
auditor. Within 5 days of each nomination the processor accepts it or objects (the auditor is
not independent, or is a competitor); after an objection the tenant names another auditor.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantry.platform import audit, clock, storage
from tenantry.platform.business_days import add_months
from tenantry.platform.crypto import fields
from tenantry.platform.db import db, new_id

from . import notices
from .models import OBJECTION_REASONS, Audit, AuditDocument, AuditorNomination
from .refs import insert_numbered

OBJECTION_WINDOW = timedelta(days=5)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


class AuditError(ValueError):
    """A request the rules refuse; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def earliest_date(now: datetime | None = None) -> date:
    """One calendar month after today (UTC), the day clamped to the month's end."""
    return add_months((now or clock.now()).date(), 1)


def _next_ref(tenant_id) -> str:
    # Numbered per tenant, explicitly: staff open requests across tenants, where no scope applies.
    count = db.session.execute(
        sa.select(sa.func.count()).select_from(Audit).where(Audit.tenant_id == tenant_id)).scalar_one()
    return f"AUD-{count + 1:04d}"


def _nominate(audit_row: Audit, name: str, organisation: str, statement: str) -> AuditorNomination:
    now = clock.now()
    nomination = AuditorNomination(
        id=new_id(), tenant_id=audit_row.tenant_id, audit_id=audit_row.id, auditor_name=name.strip(),
        auditor_organisation=organisation.strip(), independence_statement=statement.strip(), nominated_at=now,
        objection_window_ends_at=now + OBJECTION_WINDOW,
    )
    db.session.add(nomination)
    audit_row.status = "awaiting-decision"
    return nomination


def request_audit(tenant, user, *, scope: str, proposed_date: date, auditor_name: str,
                  auditor_organisation: str, independence_statement: str) -> Audit:
    earliest = earliest_date()
    if proposed_date < earliest:
        raise AuditError(
            f"An audit needs at least one month's notice: choose {earliest.isoformat()} or later.", "proposed_date")
    row = insert_numbered(
        lambda ref: Audit(id=new_id(), tenant_id=tenant.id, ref=ref, scope=scope.strip(), proposed_date=proposed_date,
                          requested_by_user_id=user.id),
        lambda: _next_ref(tenant.id))
    nomination = _nominate(row, auditor_name, auditor_organisation, independence_statement)
    audit.record("audit.requested", actor=user, tenant_id=tenant.id, target_type="audit", target_id=row.id,
                 details={"ref": row.ref, "proposed_date": proposed_date.isoformat()})
    notices.tell_processor(
        tenant.id, "audit.requested", f"Audit requested by {tenant.name} ({row.ref})",
        f"{tenant.name} requests an audit on {proposed_date.isoformat()}.\n\nScope: {row.scope}\n\n"
        f"Auditor: {nomination.auditor_name}, {nomination.auditor_organisation}\n"
        f"Accept or object by {nomination.objection_window_ends_at:%Y-%m-%d %H:%M} UTC.",
        "audit", row.id, role="platform-admin")
    return row


def current_nomination(audit_row: Audit) -> AuditorNomination | None:
    return db.session.execute(
        sa.select(AuditorNomination).where(AuditorNomination.tenant_id == audit_row.tenant_id,
                                           AuditorNomination.audit_id == audit_row.id)
        # At most one nomination is pending at a time, and it is the current one; two named in the
        # same instant (a frozen clock) must not make the choice arbitrary.
        .order_by(sa.case((AuditorNomination.decision == "pending", 0), else_=1),
                  AuditorNomination.nominated_at.desc(), AuditorNomination.decided_at.is_(None)).limit(1)
    ).scalar_one_or_none()


def nominations(audit_row: Audit) -> list[AuditorNomination]:
    return list(db.session.execute(
        sa.select(AuditorNomination).where(AuditorNomination.tenant_id == audit_row.tenant_id,
                                           AuditorNomination.audit_id == audit_row.id)
        .order_by(AuditorNomination.nominated_at, sa.case((AuditorNomination.decision == "pending", 1), else_=0))
    ).scalars())


def name_another_auditor(audit_row: Audit, user, *, auditor_name: str, auditor_organisation: str,
                         independence_statement: str) -> AuditorNomination:
    if audit_row.status != "auditor-objected":
        raise AuditError("Another auditor can be named only after an objection to the current one.")
    nomination = _nominate(audit_row, auditor_name, auditor_organisation, independence_statement)
    audit.record("audit.auditor_named", actor=user, tenant_id=audit_row.tenant_id, target_type="audit",
                 target_id=audit_row.id, details={"ref": audit_row.ref})
    notices.tell_processor(
        audit_row.tenant_id, "audit.auditor_named", f"Another auditor named for {audit_row.ref}",
        f"The tenant names {nomination.auditor_name}, {nomination.auditor_organisation}, for audit "
        f"{audit_row.ref}. Accept or object by {nomination.objection_window_ends_at:%Y-%m-%d %H:%M} UTC.",
        "audit", audit_row.id, role="platform-admin")
    return nomination


def _pending(audit_row: Audit) -> AuditorNomination:
    nomination = current_nomination(audit_row)
    if nomination is None or nomination.decision != "pending":
        raise AuditError("There is no auditor awaiting a decision.")
    return nomination


def accept(audit_row: Audit, staff) -> AuditorNomination:
    nomination = _pending(audit_row)
    nomination.decision = "accepted"
    nomination.decided_at = clock.now()
    nomination.decided_by_staff_id = staff.id
    audit_row.status = "accepted"
    audit.record("audit.accepted", actor=staff, tenant_id=audit_row.tenant_id, target_type="audit",
                 target_id=audit_row.id, details={"ref": audit_row.ref})
    notices.tell_tenant(
        audit_row.tenant_id, "audit.accepted", f"Audit {audit_row.ref}: auditor accepted",
        f"We accept {nomination.auditor_name} ({nomination.auditor_organisation}) as auditor for "
        f"{audit_row.ref}, proposed for {audit_row.proposed_date.isoformat()}.", "audit", audit_row.id)
    return nomination


def object_to_auditor(audit_row: Audit, staff, *, reason: str, note: str) -> AuditorNomination:
    if reason not in OBJECTION_REASONS:
        raise AuditError("Choose why the auditor is objected to: not independent, or a competitor.", "reason")
    nomination = _pending(audit_row)
    now = clock.now()
    if now >= clock.aware(nomination.objection_window_ends_at):
        raise AuditError(
            f"The 5-day window for objecting to this auditor ended at "
            f"{clock.aware(nomination.objection_window_ends_at):%Y-%m-%d %H:%M} UTC.", "reason")
    nomination.decision = "objected"
    nomination.decided_at = now
    nomination.decided_by_staff_id = staff.id
    nomination.objection_reason = reason
    nomination.objection_note = note.strip() or None
    audit_row.status = "auditor-objected"
    audit.record("audit.auditor_objected", actor=staff, tenant_id=audit_row.tenant_id, target_type="audit",
                 target_id=audit_row.id, details={"ref": audit_row.ref, "reason": reason})
    notices.tell_tenant(
        audit_row.tenant_id, "audit.objected", f"Audit {audit_row.ref}: please name another auditor",
        f"We object to {nomination.auditor_name} ({nomination.auditor_organisation}) as auditor for "
        f"{audit_row.ref}: {OBJECTION_REASONS[reason].lower()}."
        + (f"\n\n{nomination.objection_note}" if nomination.objection_note else "")
        + "\n\nPlease name another auditor in the audit's page.", "audit", audit_row.id)
    return nomination


# --- confidential documents [DPA-4.6] ---------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    extension: str
    content_type: str
    text: bool


KINDS = {
    "pdf": Kind("pdf", "application/pdf", False),
    "png": Kind("png", "image/png", False),
    "jpg": Kind("jpg", "image/jpeg", False),
    "jpeg": Kind("jpg", "image/jpeg", False),
    "txt": Kind("txt", "text/plain; charset=utf-8", True),
    "md": Kind("md", "text/markdown; charset=utf-8", True),
    "csv": Kind("csv", "text/csv; charset=utf-8", True),
}
_MAGIC = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff"}


def check_document(filename: str, data: bytes) -> Kind:
    """The document's kind from its name, confirmed by its content; refused with a reason otherwise."""
    name = (filename or "").strip()
    if not name:
        raise AuditError("Choose a file to upload.", "file")
    if not data:
        raise AuditError("The file is empty.", "file")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise AuditError(f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB.", "file")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    kind = KINDS.get(ext)
    if kind is None:
        raise AuditError("Upload a PDF, PNG, JPEG, plain text, Markdown or CSV file.", "file")
    if kind.text:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AuditError("A text document must be UTF-8 text.", "file") from exc
        if "\x00" in text:
            raise AuditError("A text document must not contain NUL characters.", "file")
    elif not data.startswith(_MAGIC[kind.extension]):
        raise AuditError(f"The file's content is not a {kind.extension.upper()} document.", "file")
    return kind


def _document_aad(doc: AuditDocument) -> bytes:
    return f"duty_audit_documents:{doc.tenant_id}:{doc.id}".encode()


def _safe_filename(filename: str, kind: Kind) -> str:
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename.rsplit(".", 1)[0])[:150].strip("._")
    return f"{base or 'document'}.{kind.extension}"


def share_document(audit_row: Audit, staff, filename: str, data: bytes) -> AuditDocument:
    kind = check_document(filename, data)
    doc_id = new_id()
    key = f"tenants/{audit_row.tenant_id}/audits/{audit_row.id}/{doc_id}"
    content_key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(12)
    doc = AuditDocument(id=doc_id, tenant_id=audit_row.tenant_id, audit_id=audit_row.id,
                        filename=_safe_filename(filename, kind), content_type=kind.content_type, size=len(data),
                        storage_key=key, uploaded_by_staff_id=staff.id,
                        content_key=fields.encrypt(content_key, tenant_id=audit_row.tenant_id,
                                                   table=AuditDocument.__tablename__, column="content_key",
                                                   row_id=doc_id))
    # Encrypted before it reaches storage, bound to this document: a copied object does not open.
    storage.storage().put(key, nonce + AESGCM(content_key).encrypt(nonce, data, _document_aad(doc)))
    db.session.add(doc)
    audit.record("audit.document_shared", actor=staff, tenant_id=audit_row.tenant_id, target_type="audit_document",
                  target_id=doc_id, details={"ref": audit_row.ref, "size": len(data)})
    return doc


def documents(audit_row: Audit) -> list[AuditDocument]:
    return list(db.session.execute(
        sa.select(AuditDocument).where(AuditDocument.tenant_id == audit_row.tenant_id,
                                       AuditDocument.audit_id == audit_row.id)
        .order_by(AuditDocument.uploaded_at)
    ).scalars())


def confidential_line(audit_row: Audit) -> str:
    return f"CONFIDENTIAL — shown for audit {audit_row.ref}"


def read_document(audit_row: Audit, doc: AuditDocument, actor) -> bytes:
    """The document's bytes as handed out: text documents start with the confidentiality line."""
    content_key = fields.decrypt(doc.content_key, tenant_id=doc.tenant_id, table=AuditDocument.__tablename__,
                                 column="content_key", row_id=doc.id)
    blob = storage.storage().get(doc.storage_key)
    data = AESGCM(content_key).decrypt(blob[:12], blob[12:], _document_aad(doc))
    audit.record("audit.document_read", actor=actor, tenant_id=doc.tenant_id, target_type="audit_document",
                 target_id=doc.id, details={"ref": audit_row.ref})
    if doc.content_type.startswith("text/"):
        data = (confidential_line(audit_row) + "\n\n").encode() + data
    return data


def get_document(audit_row: Audit, document_id: uuid.UUID) -> AuditDocument | None:
    return db.session.execute(
        sa.select(AuditDocument).where(AuditDocument.tenant_id == audit_row.tenant_id,
                                       AuditDocument.audit_id == audit_row.id, AuditDocument.id == document_id)
    ).scalar_one_or_none()
