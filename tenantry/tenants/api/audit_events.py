"""/api/v1/audit-events: the workspace's audit trail for API clients with scope `audit:read`
[DPA-B.logging, TT-activity-log].

The same filters and order as the admins' pages (tenantry.tenants.audit_trail): newest first,
by person (actor), record type and id, action and time range. Events carry ids and metadata
only, as the pages do: who (actor type and id), when, from where (IP, user agent), what
(action, record type and id, the ids a read listed, the names of the fields a change
touched) and the outcome; never values. Reading the trail is itself audited (`audit.viewed`).
"""

from __future__ import annotations

import re
from datetime import UTC

from flask import abort, g, jsonify, request

from tenantry.platform import audit
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants import audit_trail, local_time
from tenantry.tenants.audit_trail import FilterError, Filters

from . import openapi
from .common import instant, iso
from .core import bp, require_scope
from .errors import ApiError
from .pagination import _encode, _serializer, parse_cursor, parse_limit

CURSOR_NAME = "audit-events"
PARAMETERS = frozenset({"limit", "cursor", "actor", "record_type", "record_id", "action", "since", "until"})
ACTION = re.compile(r"^[a-z0-9_.:-]{1,64}$")


def to_json(event: AuditEvent) -> dict:
    return {
        "id": event.id, "seq": event.seq, "occurred_at": iso(event.occurred_at.astimezone(UTC)),
        "actor": {"type": event.actor_type, "id": event.actor_id},
        "ip": event.ip, "user_agent": event.user_agent, "action": event.action,
        "target": {"type": event.target_type, "id": event.target_id},
        "outcome": event.outcome,
        "fields_changed": audit_trail.fields_of(event),
        "records_read": audit_trail.read_ids(event),
    }


def _filters() -> Filters:
    args = request.args
    unknown = sorted(set(args) - PARAMETERS)
    if unknown:
        raise ApiError(400, "unknown_parameter", f"Unknown query parameter: {', '.join(unknown)}.",
                       {name: "Not a filter of this list." for name in unknown})
    errors: dict[str, str] = {}
    actor_type = actor_id = record_type = record_id = None
    since = until = None
    try:
        actor_type, actor_id = audit_trail.parse_person(args.get("actor", ""))
    except FilterError as exc:
        errors[exc.field] = str(exc)
    try:
        record_type, record_id = audit_trail.check_record(args.get("record_type"), args.get("record_id"))
    except FilterError as exc:
        errors[exc.field] = str(exc)
    action = (args.get("action") or "").strip() or None
    if action and not ACTION.match(action):
        errors["action"] = "Not an action name (e.g. crm.contact.updated)."
    zone = local_time.zone_of(current_tenant)
    for name in ("since", "until"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                moment = instant(name, raw, zone, end=name == "until")
            except FilterError as exc:
                errors[exc.field] = str(exc)
                continue
            if name == "since":
                since = moment
            else:
                until = moment
    if since and until and until <= since:
        errors["until"] = "The end must be after the start."
    if errors:
        raise ApiError(400, "invalid_filter", "Some filters are not valid; see fields.", errors)
    return Filters(actor_type=actor_type, actor_id=actor_id, record_type=record_type, record_id=record_id,
                   action=action, since=since, until=until)


def _viewed(details: dict, target_type: str = "audit_trail", target_id=None) -> None:
    audit.record("audit.viewed", actor=g.api_client, tenant_id=current_tenant.id, target_type=target_type,
                 target_id=target_id, details={**details, "via": "api"})


@bp.get("/audit-events")
@require_scope("audit:read")
def audit_event_list():
    filters = _filters()
    limit = parse_limit()
    after = parse_cursor(CURSOR_NAME, 1)
    before = after[0] if after is not None else None
    if before is not None and (not isinstance(before, int) or before < 1):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API handed out; start from the first page.",
                       {"cursor": "Use next_cursor from a previous page, unchanged."})
    events, next_before = audit_trail.page(current_tenant.id, filters, before=before, limit=limit)
    items = [to_json(e) for e in events]
    cursor = _serializer(CURSOR_NAME).dumps([_encode(next_before)]) if next_before is not None else None
    _viewed({"filters": filters.describe(), "before": before, "shown": len(events)})
    db.session.commit()
    return jsonify({"items": items, "next_cursor": cursor})


@bp.get("/audit-events/<int:audit_event_id>")
@require_scope("audit:read")
def audit_event_get(audit_event_id: int):
    found = audit_trail.get(current_tenant.id, audit_event_id) or abort(404)  # another workspace's: 404
    body = to_json(found)
    # As on the admins' event page of this build: the names of changed fields, never their values.
    _viewed({"event_id": found.id, "values_shown": False}, target_type="audit_event", target_id=found.id)
    db.session.commit()
    return jsonify(body)


_nullable = {"type": ["string", "null"]}
_ids = {"type": "array", "items": {"type": "string"}}
openapi.add_schemas({
    "AuditEvent": {"type": "object", "required": ["id", "seq", "occurred_at", "actor", "action", "target", "outcome"],
                   "properties": {
        "id": {"type": "integer"},
        "seq": {"type": "integer", "description": "Place in the workspace's hash chain"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "actor": {"type": "object", "required": ["type", "id"], "properties": {
            "type": {"type": "string", "description": "user, api_client, staff (support access), system or anonymous"},
            "id": _nullable}},
        "ip": _nullable, "user_agent": _nullable,
        "action": {"type": "string", "examples": ["crm.contact.updated"]},
        "target": {"type": "object", "required": ["type", "id"], "properties": {"type": _nullable, "id": _nullable}},
        "outcome": {"type": "string"},
        "fields_changed": {**_ids, "description": "Names of the fields a change touched (never their values)"},
        "records_read": {**_ids, "description": "Ids of the records a read showed"}}},
    "AuditEventPage": openapi.page_schema("AuditEvent"),
})


def _query(name: str, description: str, **schema) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string", **schema}}


_TIME = ("a day YYYY-MM-DD in the workspace's time zone (whole days, as on the audit page) "
         "or a date-time with its offset")
_filters_doc = [
    _query("actor", "user:<id>, api_client:<id> or staff:<id>; a bare id matches any kind"),
    _query("record_type", "contact, company, deal, activity, membership, ..."),
    _query("record_id", "With record_type: events naming the record, list reads that showed it included"),
    _query("action", "e.g. crm.contact.updated"),
    _query("since", f"From (inclusive): {_TIME}"),
    _query("until", f"To: {_TIME}; a day includes that day, a date-time is exclusive"),
]
_event_id = {"name": "audit_event_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
openapi.add_paths({
    "/api/v1/audit-events": {"get": openapi.operation(
        "The workspace's audit trail, newest first, filtered as on the audit page (reading it is audited)",
        scope="audit:read", errors=(400,), parameters=[*openapi.LIST_PARAMETERS, *_filters_doc],
        responses={"200": {"description": "A page", "content": {"application/json": {
            "schema": openapi.ref("AuditEventPage")}}}})},
    "/api/v1/audit-events/{audit_event_id}": {"get": openapi.operation(
        "One event of the workspace's audit trail (reading it is audited)", scope="audit:read",
        parameters=[_event_id], errors=(404,),
        responses={"200": {"description": "The event", "content": {"application/json": {
            "schema": openapi.ref("AuditEvent")}}}})},
})
