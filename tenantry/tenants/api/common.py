"""What the resource modules share: the UI's forms run on JSON, ids, timestamps, read events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from flask import g, request
from werkzeug.datastructures import MultiDict

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants import audit_trail, local_time
from tenantry.tenants.audit_trail import FilterError

from .core import validation_error
from .errors import ApiError
from .preconditions import tagged

MAX_QUERY = 200


def run_form(form_class, values: dict[str, str], renames: dict[str, str] | None = None, **kwargs):
    """Validate `values` with the UI's own form, so the API and the pages refuse the same
    input with the same messages; errors come back under the API's field names."""
    form = form_class(formdata=MultiDict(values), meta={"csrf": False}, **kwargs)
    if not form.validate():
        renames = renames or {}
        raise validation_error({renames.get(name, name): msgs for name, msgs in form.errors.items()})
    return form


def unchanged(data: Any, as_held) -> bool:
    """Whether a PATCH's validated `data` is what the record holds (`as_held()`: the same
    validation of no change). Such a PATCH writes nothing: no new version, so a client holding
    the ETag is not refused and a changed_since sync does not fetch the record again."""
    try:
        return data == as_held()
    except ApiError:  # what is held fails today's checks: this write is what mends it
        return False


def text(value: Any) -> str:
    """A JSON string field as form text; null clears it."""
    return "" if value is None else value


def or_null(value: str) -> str | None:
    return value or None


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def ident(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def parse_uuid(value: str | None, field: str, what: str) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise validation_error({field: f"Choose one of this workspace's {what} (an id)."}) from exc


NOBODY = "none"  # owner_id=none: what is assigned to no one


def owner_filter(column) -> list:
    """The list's condition of `?owner_id=`: a member's id, or "none" for no one's."""
    raw = request.args.get("owner_id", "")
    if raw == NOBODY:
        return [column.is_(None)]
    if not raw:
        return []
    try:
        return [column == uuid.UUID(raw)]
    except ValueError as exc:
        raise validation_error({"owner_id": 'A member\'s id, or "none" for what is assigned to no one.'}) from exc


EARLIEST, LATEST = date(2000, 1, 1), date(9998, 12, 31)


def instant(name: str, raw: str, zone, *, end: bool = False) -> datetime:
    """The UTC instant of a time filter: a day YYYY-MM-DD in the workspace's time zone (as the
    pages take it: its start, or with `end` the start of the next), or a date-time with its
    offset. FilterError(name, ...) when it is neither."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = None
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise FilterError(name, "Give a day as YYYY-MM-DD or a date-time with its offset, "
                                "e.g. 2026-05-01T08:00:00Z.") from exc
    if moment is None:  # FilterError is a ValueError: raised out here, it keeps its own message
        if not EARLIEST <= day <= LATEST:
            raise FilterError(name, f"Choose a day after {EARLIEST.isoformat()}.")
        start, stop = audit_trail.day_range(day, day, zone)
        return stop if end else start
    if moment.tzinfo is None:
        raise FilterError(name, "Give the date-time with its offset, e.g. 2026-05-01T08:00:00Z.")
    if not EARLIEST <= moment.date() <= LATEST:
        raise FilterError(name, f"Choose a time after {EARLIEST.isoformat()}.")
    return moment.astimezone(UTC)


def changed_since(column) -> list:
    """The list's condition of `?changed_since=` on `column` (a record's changed_at): what
    changed at or after it, for an integration's incremental sync; [] when not given."""
    raw = (request.args.get("changed_since") or "").strip()
    if not raw:
        return []
    try:
        return [column >= instant("changed_since", raw, local_time.zone_of(current_tenant))]
    except FilterError as exc:
        raise validation_error({exc.field: str(exc)}) from exc


CHANGED_AT = ("When anything about it last changed: an edit (as updated_at), and also a retention rule's "
              "anonymising, which leaves updated_at as it was. What changed_since goes by.")
CHANGED_SINCE_PARAMETER = {
    "name": "changed_since", "in": "query", "schema": {"type": "string"},
    "description": "Only what changed at or after this time (its changed_at): a date-time with its offset, e.g. "
                   "2026-05-01T08:00:00Z, or a day YYYY-MM-DD in the workspace's time zone. For an incremental "
                   "sync: note the time before the first page, and give it next time. A change includes a "
                   "retention rule's anonymising; a contact restricted or objected to leaves the contact list "
                   "(as without changed_since), and what was deleted is in the audit trail "
                   "(GET /api/v1/audit-events?action=crm.contact.deleted&since=..., scope audit:read).",
}


def query_arg() -> str:
    q = request.args.get("q", "")
    if len(q) > MAX_QUERY:
        raise ApiError(400, "invalid_query", f"q is at most {MAX_QUERY} characters.", {"q": "Too long."})
    return q.strip()


def record_read(entity: str, ids: list, *, listed: bool, details: dict | None = None) -> None:
    """One audit event per read of personal data, naming the client and the ids returned.

    It joins the view's own transaction, which every API read view commits right after this
    call, rather than the request's batch, whose second transaction cost every read a
    connection checkout, BEGIN, the tenant setting and COMMIT (bench/crm.py, issue 3). An event
    that cannot be written fails the view's commit (AuditWriteError, 503): the body is never sent."""
    audit.record_read(f"crm.{entity}.{'listed' if listed else 'viewed'}", target_type=entity, target_ids=ids,
                      actor=g.api_client, tenant_id=current_tenant.id, in_transaction=True,
                      details={"via": "api", **({"search": True} if listed and request.args.get("q") else {}),
                               **(details or {})})


def answered(kind: str, row_id, body: dict, version: int, *, details: dict | None = None):
    """One record answered and nothing written (a GET, or a PATCH that changes nothing): audited
    as the read it is, with its ETag."""
    record_read(kind, [row_id], listed=False, details=details)
    commit_read()
    return tagged(body, version)


def commit_read() -> None:
    """Commit a read view's transaction (its audit event, see record_read) without expiring
    what it loaded: the body is built by then, and the request ends with the session. Expiring
    a page of 50 objects at commit was a twentieth of an API list (bench/crm.py, issue 3)."""
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
