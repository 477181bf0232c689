"""The audit trail: who did what, when, from where, and how it ended.

One row per event, never holding personal data in plaintext: records are referred to by id,
and the old and new values of changed fields travel only as one ciphertext under the tenant's
data key (`changes`), bound to the event's place in its chain. The names of the changed fields
stay readable in `details["fields"]`. Each event is a link of its chain (tenant or platform,
see audit_chain): `seq`, `hash` and the sealed changes are set at flush. On PostgreSQL the
application role may only SELECT and INSERT here.

Writes of personal data fail closed: their events are in the same transaction as the change,
so a failed event insert (AuditWriteError) takes the change down with it and the user gets an
error page instead of a silent gap. Reads of personal data are collected per request and
written in one batch when the response is ready; if that batch cannot be written, the page is
withheld (503) rather than shown unrecorded. With Redis, read events go to the audit inbox
instead and reach the chain in batches (audit_inbox); a push Redis refuses falls back to the
direct write.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenantry.platform import audit_chain, clock
from tenantry.platform.db import db

log = logging.getLogger(__name__)

READ_BUFFER = "tenantry_audit_reads"
PUSHES = "tenantry_audit_pushes"  # read events sent to the inbox, their answers not read yet
_WROTE = "tenantry.audit_other_writes"
CHANGES_TABLE, CHANGES_COLUMN = "audit_events", "changes"


class AuditWriteError(RuntimeError):
    """An event could not be written; whatever it records must not happen either."""


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    # NULL for platform-level events (staff sign-in, publishing); otherwise the tenant concerned.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    actor_type: Mapped[str] = mapped_column(sa.String(12))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(10), default="success")
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # {"field": [old, new], ...} as JSON, AES-256-GCM under the tenant's data key (see changes_of).
    changes: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    chain: Mapped[str] = mapped_column(sa.String(40))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    # Set on events written from the Redis inbox (audit_inbox): a redelivered item is skipped.
    # A delivery detail, not part of the event, so it is not hashed.
    inbox_key: Mapped[str | None] = mapped_column(sa.String(32))

    __table_args__ = (
        sa.UniqueConstraint("chain", "seq"),
        sa.Index("ux_audit_events_inbox_key", "inbox_key", unique=True,
                 postgresql_where=sa.text("inbox_key IS NOT NULL"), sqlite_where=sa.text("inbox_key IS NOT NULL")),
    )

    def seal_pending(self) -> None:
        """Called by the chain once `chain` and `seq` are known: the ciphertext is bound to them,
        so it cannot be moved to another event unnoticed."""
        pending = self.__dict__.get("_pending_changes")
        if pending is None or self.tenant_id is None:
            return
        from tenantry.platform.crypto import fields

        self.changes = fields.encrypt(json.dumps(pending, ensure_ascii=False, sort_keys=True),
                                      **_changes_where(self))


def _inserted_with_head(session: Session, events: list[AuditEvent]) -> None:
    # Events the chain inserted itself (PostgreSQL) reach the listeners as _append_direct's do;
    # like the flush listeners, only for the app's own session.
    try:
        ours = db.session() is session
    except RuntimeError:  # no application context
        ours = False
    if ours and direct_append_listeners:
        appended = [(_direct_values(e), e.id) for e in events]
        for listener in direct_append_listeners:
            listener(appended)


audit_chain.install(AuditEvent, written=_inserted_with_head)


def _changes_where(event: AuditEvent) -> dict[str, Any]:
    return {"tenant_id": event.tenant_id, "table": CHANGES_TABLE, "column": CHANGES_COLUMN,
            "row_id": f"{event.chain}:{event.seq}"}


def client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


# --- field changes ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON value for comparing and storing; empty means absent (None)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        # By value, not by scale: 1000 typed and 1000.000 read back from NUMERIC(18, 3) are no change.
        return f"{value.normalize():f}"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs between two plain snapshots: {field: (old, new)}.
    A create is diff(None, after), a delete diff(before, None)."""
    before, after = before or {}, after or {}
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = _plain(before.get(name)), _plain(after.get(name))
        if old != new:
            changes[name] = (old, new)
    return changes


def changes_of(event: AuditEvent) -> dict[str, tuple[Any, Any]]:
    """The old and new values of an event's changed fields, decrypted under its tenant's key.

    Raises crypto.fields.FieldDecryptError when they cannot be opened: the tenant's keys were
    destroyed, or the ciphertext was moved or altered. An event with names but no values (a
    platform event has no tenant key) gives each name (None, None)."""
    from tenantry.platform.crypto import fields

    names = list((event.details or {}).get("fields") or [])
    if event.changes is None:
        return {name: (None, None) for name in names}
    opened = json.loads(fields.decrypt(event.changes, **_changes_where(event)))
    return {name: (pair[0], pair[1]) for name, pair in opened.items()}


# --- recording ---------------------------------------------------------------------------------


def _actor_type(actor, actor_type: str | None) -> str:
    if actor is not None and actor_type is None:
        # An API client (or any other principal) names its own kind; people are users or staff.
        actor_type = getattr(actor, "audit_actor_type", None) or (
            "staff" if getattr(actor, "is_staff", False) else "user")
    return actor_type or ("anonymous" if has_request_context() else "system")


def _values(action, *, actor, actor_type, tenant_id, target_type, target_id, outcome, details) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "actor_type": _actor_type(actor, actor_type),
        "actor_id": str(actor.id) if actor is not None else None,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "outcome": outcome,
        "ip": client_ip(),
        "user_agent": (request.user_agent.string[:400] if has_request_context() else None),
        "details": details,
    }


def _event(action, *, actor, actor_type, tenant_id, target_type, target_id, outcome, details, changes) -> AuditEvent:
    details = dict(details) if details is not None else None
    pending = None
    if changes:
        details = details or {}
        details["fields"] = sorted(changes)
        pending = {name: [_plain(old), _plain(new)] for name, (old, new) in changes.items()}
    event = AuditEvent(**_values(action, actor=actor, actor_type=actor_type, tenant_id=tenant_id,
                                 target_type=target_type, target_id=target_id, outcome=outcome, details=details))
    # Platform events have no tenant key to seal values under: they keep the names only.
    if pending is not None and tenant_id is not None:
        event._pending_changes = pending
    return event


def record(
    action: str,
    *,
    actor=None,
    actor_type: str | None = None,
    tenant_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: Any = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
) -> AuditEvent:
    """Add an event to the current transaction; it commits (or rolls back) with the change.

    `changes` is {field: (old, new)} (see diff()): the names are kept readable, the values
    only encrypted under the tenant's key. Never put personal data into `details`."""
    event = _event(action, actor=actor, actor_type=actor_type, tenant_id=tenant_id, target_type=target_type,
                   target_id=target_id, outcome=outcome, details=details, changes=changes)
    db.session.add(event)
    audit_chain.remember(db.session(), event)
    return event


def record_read(
    action: str,
    *,
    target_type: str,
    target_ids: list[Any],
    actor=None,
    actor_type: str | None = None,
    tenant_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    in_transaction: bool = False,
) -> AuditEvent | None:
    """One event for a read of personal data: a detail page (one id) or a list/search/export
    page (the ids shown). Ids only, never values, so the anomaly rules can count distinct
    records per person without the trail holding personal data.

    In a request the event joins the request's batch, written once when the response is ready
    (see init_app); elsewhere (jobs, CLI), or with `in_transaction` (a view that commits right
    after, sparing the batch's second transaction), it joins the current transaction like
    record(). Either way a failed write withholds the response. Returns the event, or None
    when it went straight to the database (in_transaction on PostgreSQL, see _append_direct)."""
    ids = [str(i) for i in target_ids]
    payload = dict(details or {})
    payload["ids"] = ids
    fields = {"actor": actor, "actor_type": actor_type, "tenant_id": tenant_id, "target_type": target_type,
              "target_id": ids[0] if len(ids) == 1 else None, "outcome": "success", "details": payload}
    if not in_transaction and has_request_context() and current_app.extensions.get("tenantry.audit_batching"):
        event = _event(action, changes=None, **fields)
        g.setdefault(READ_BUFFER, []).append(event)
        return event
    if in_transaction:
        values = _values(action, **fields)
        if _queued([values], answer_later=True) or _append_direct(values):
            return None
    return record(action, **fields)


def _queued(events: list[dict[str, Any]], *, answer_later: bool = False) -> bool:
    """Read events handed to the Redis inbox (audit_inbox), when it is on and takes them all.

    With `answer_later` in a request, Redis's answer is read when the response is ready
    (_refused_pushes, from after_request), so the request does not wait for it here; events it
    refused are written then, and the response is withheld if that fails too."""
    from tenantry.platform import audit_inbox

    if not audit_inbox.enabled() or not all(audit_inbox.eligible(values) for values in events):
        return False
    now = clock.now()
    events = [{**values, "occurred_at": values.get("occurred_at") or now} for values in events]
    if not (answer_later and has_request_context()):
        return audit_inbox.push(events)
    sent = audit_inbox.send(events)
    if sent is None:
        return False
    g.setdefault(PUSHES, []).append((sent, events))
    return True


def _refused_pushes() -> list[AuditEvent]:
    """Reads Redis's answers to the request's pushes; returns the events it did not take, for
    the caller to write."""
    refused = []
    for sent, events in g.pop(PUSHES, ()):
        if not sent.taken():
            refused.extend(AuditEvent(**values) for values in events)
    return refused


# Called with [(values, event id), ...] for the events written by _append_direct or the audit
# inbox, which no ORM flush sees, before their commit: how the anomaly rules (tenants.anomalies)
# learn of them without platform importing tenants.
direct_append_listeners: list[Any] = []


def _append_direct(values: dict[str, Any]) -> bool:
    """An event with no changed values (see _values), chained and inserted in one statement
    (PostgreSQL, see audit_chain.append_direct). False when it cannot take that path: the
    caller records it through the ORM, which also creates a chain's first head."""
    session = db.session()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    if any(isinstance(obj, AuditEvent) for obj in session.new):
        session.flush()  # the transaction's earlier events keep their place in the chain
    values = dict(values)
    values["occurred_at"] = values.get("occurred_at") or clock.now()
    values["details"] = audit_chain.json_shaped(values["details"])
    try:
        appended = audit_chain.append_direct(connection, AuditEvent.__table__, values)
    except AuditWriteError:
        raise
    except Exception as exc:
        raise AuditWriteError(f"audit event could not be chained: {exc}") from exc
    if appended is None:
        return False
    for listener in direct_append_listeners:
        listener([(values, appended[0])])
    return True


# --- the request's batch -----------------------------------------------------------------------


def _is_audit_row(obj: Any) -> bool:
    return isinstance(obj, AuditEvent | audit_chain.AuditHead)


@sa_event.listens_for(Session, "after_flush")
def _note_other_writes(session: Session, _flush_context) -> None:
    if any(not _is_audit_row(o) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[_WROTE] = True


@sa_event.listens_for(Session, "do_orm_execute")
def _note_bulk_writes(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def _uncommitted_writes(session: Session) -> bool:
    pending = (*session.new, *session.dirty, *session.deleted)
    return bool(session.info.get(_WROTE)) or any(not _is_audit_row(o) for o in pending)


def _direct_values(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in audit_chain.DIRECT_COLUMNS}


def write_batch(events: list[AuditEvent], *, queue: bool = True) -> None:
    """Write a request's read events (plus any event it recorded but did not commit) in one
    transaction. Work the view left uncommitted would be discarded at teardown anyway; it is
    discarded first so that these events cannot carry it into the database. Without `queue`
    they skip the Redis inbox (it has just refused some of them)."""
    session = db.session
    if _uncommitted_writes(session):
        log.warning("a request ended with uncommitted changes; they were discarded before its read events were written")
        session.rollback()
    if queue and all(event.__dict__.get("_pending_changes") is None for event in events) and _queued(
            [_direct_values(event) for event in events]):
        return  # all of them reads, and all in the inbox: nothing to write here
    for event in events:
        # A read event holds no sealed values: one statement each, as in the API's reads.
        if event.__dict__.get("_pending_changes") is None and _append_direct(_direct_values(event)):
            continue
        session.add(event)
        audit_chain.remember(session(), event)
    session.commit()


def init_app(app: Flask) -> None:
    """Batch read events per request, and answer a failed audit write with an error page."""
    from tenantry.platform import audit_checkpoints, audit_inbox, audit_retention, cron

    app.extensions["tenantry.audit_batching"] = True
    audit_inbox.init_app(app)
    cron.register(app, "audit_checkpoints", audit_checkpoints.run)
    cron.register(app, "audit_retention", audit_retention.run)

    @app.after_request
    def _write_read_events(response):
        refused = _refused_pushes()
        events = refused + g.pop(READ_BUFFER, [])
        if not events:
            return response
        try:
            write_batch(events, queue=not refused)
        except Exception:
            db.session.rollback()
            log.exception("the audit trail could not record %d read event(s); the response was withheld", len(events))
            # after_request must return a response object; error_response gives (body, status).
            return app.make_response(_audit_unavailable("The audit trail could not record this access, so it "
                                                         "was not shown. Please try again in a moment."))
        return response

    @app.teardown_request
    def _write_late_read_events(exc):
        # A streamed response records its reads while streaming, after after_request; and a
        # push's answer is read whatever happened, so that it cannot pass for the next one's.
        refused = _refused_pushes()
        events = refused + g.pop(READ_BUFFER, [])
        if events and exc is None:
            try:
                write_batch(events, queue=not refused)
            except Exception:
                db.session.rollback()
                log.exception("the audit trail could not record %d read event(s) of a streamed response", len(events))

    @app.errorhandler(AuditWriteError)
    def _audit_write_failed(exc):
        db.session.rollback()
        log.error("audit write failed, the change was not saved: %s", exc, exc_info=exc)
        return _audit_unavailable("This change could not be recorded in the audit trail, so it was not saved. "
                                  "Please try again in a moment.")


def _audit_unavailable(message: str):
    from tenantry.platform.web import error_response

    return error_response(503, "audit_unavailable", message)
