"""/api/v1/activities: calls, meetings, e-mails and tasks on a contact, company or deal,
validated by the UI's ActivityForm."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, g, jsonify, request

from tenantry.platform.db import db
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities as service
from tenantry.tenants.crm import activity_list as listed
from tenantry.tenants.crm import companies, contacts, deals, forms
from tenantry.tenants.crm.models import Activity

from . import openapi
from .common import (
    CHANGED_AT,
    CHANGED_SINCE_PARAMETER,
    answered,
    changed_since,
    commit_read,
    ident,
    iso,
    or_null,
    owner_filter,
    parse_uuid,
    query_arg,
    record_read,
    run_form,
    text,
)
from .core import bp, json_body, require_scope, validation_error
from .errors import ApiError
from .pagination import paginate
from .preconditions import check, tagged

SUBJECTS = {"contact": contacts.get, "company": companies.get, "deal": deals.get}
PLURAL = {"contact": "contacts", "company": "companies", "deal": "deals"}
EDITABLE = {"kind": (str, None), "due_on": (str, None), "due_time": (str, None), "note": (str, None),
            "owner_id": (str, None), "done": (bool,)}
FIELDS = {**EDITABLE, **{f"{s}_id": (str, None) for s in SUBJECTS}}


def to_json(activity: Activity) -> dict:
    return {"id": str(activity.id), "kind": activity.kind, "due_on": iso(activity.due_on),
            "due_time": service.time_text(activity), "done": activity.done,
            "done_at": iso(activity.done_at), "note": or_null(activity.reveal("note")),
            "owner_id": ident(activity.owner_id),
            **{f"{s}_id": ident(getattr(activity, f"{s}_id")) for s in SUBJECTS},
            "created_at": iso(activity.created_at), "changed_at": iso(activity.changed_at)}


def _data(given: dict, current: dict) -> service.ActivityData:
    values = {name: text(given[name]) if name in given else current[name]
              for name in ("kind", "due_on", "due_time", "note")}
    values["owner"] = text(given["owner_id"]) if "owner_id" in given else current["owner"]
    # As for a deal's owner: the form checks the id is a choice, the service that it is a member.
    form = run_form(forms.ActivityForm, values, {"owner": "owner_id"},
                    owner_choices=[(values["owner"], values["owner"])] if values["owner"] else [])
    parse_uuid(values["owner"], "owner_id", "members")
    return form.data_for_service()


def _written(write):
    """`write()`, with a member who is none of this workspace's as a 422 on owner_id."""
    try:
        return write()
    except deals.Refused as exc:
        db.session.rollback()
        raise validation_error({f"{exc.field}_id": str(exc)}) from exc


def _usable(activity: Activity | None) -> Activity:
    """An activity of a contact that a data subject request restricts is kept, not used
    [DSR-restrict]: 409, as for the contact itself."""
    if activity is None:
        abort(404)
    if activity.contact_id is not None:
        contact = contacts.get(activity.contact_id)
        if contact is not None and contact.restricted_at is not None:
            raise ApiError(409, "restricted", contacts.RESTRICTED)
    return activity


def _subject(given: dict):
    named = [s for s in SUBJECTS if given.get(f"{s}_id")]
    if len(named) != 1:
        raise validation_error({f"{s}_id": "Give exactly one of contact_id, company_id and deal_id."
                                for s in (named or SUBJECTS)})
    subject = named[0]
    subject_id = parse_uuid(given[f"{subject}_id"], f"{subject}_id", PLURAL[subject])
    found = SUBJECTS[subject](subject_id)
    if found is None:
        raise validation_error({f"{subject}_id": f"No such {subject} in this workspace."})
    if subject == "contact" and found.restricted_at is not None:
        raise ApiError(409, "restricted", contacts.RESTRICTED)
    return subject, subject_id


@bp.get("/activities")
@require_scope("crm:read")
def activity_list():
    q = query_arg()
    state = request.args.get("state") or "all"
    if state not in listed.STATES:
        raise validation_error({"state": f"One of {', '.join(listed.STATES)}."})
    stmt = sa.select(Activity).where(service.usable(), *listed.in_state(state, local_time.now()),
                                     *owner_filter(Activity.owner_id), *changed_since(Activity.changed_at))
    if q:
        stmt = stmt.where(service.matching(q))
    for subject in SUBJECTS:
        value = request.args.get(f"{subject}_id")
        if value:
            stmt = stmt.where(getattr(Activity, f"{subject}_id") == parse_uuid(value, f"{subject}_id", PLURAL[subject]))
    rows, cursor = paginate(stmt, keys=(Activity.created_at, Activity.id), name="activities")
    items = [to_json(a) for a in rows]
    record_read("activity", [a.id for a in rows], listed=True)
    commit_read()
    return jsonify({"items": items, "next_cursor": cursor})


@bp.post("/activities")
@require_scope("crm:write")
def activity_create():
    given = json_body(FIELDS, required=("kind",))
    data = _data(given, {"kind": "", "due_on": "", "due_time": "", "note": "", "owner": ""})
    subject, subject_id = _subject(given)
    activity = _written(lambda: service.create(subject, subject_id, data, actor=g.api_client))
    if given.get("done"):
        service.complete(activity, done=True, actor=g.api_client)
    db.session.flush()  # the version the ETag names
    answer = tagged(to_json(activity), activity.version, 201)
    db.session.commit()
    return answer


@bp.get("/activities/<uuid:activity_id>")
@require_scope("crm:read")
def activity_get(activity_id):
    activity = _usable(service.get(activity_id))
    body = to_json(activity)
    return answered("activity", activity.id, body, activity.version)


@bp.patch("/activities/<uuid:activity_id>")
@require_scope("crm:read", "crm:write")  # the answer shows the whole record
def activity_update(activity_id):
    activity = _usable(service.get(activity_id))
    check(activity)
    given = json_body(FIELDS)
    moved = {f"{s}_id": "An activity stays with its contact, company or deal; create a new one instead."
             for s in SUBJECTS if f"{s}_id" in given}
    if moved:
        raise validation_error(moved)
    if set(given) & {"kind", "due_on", "due_time", "note", "owner_id"}:
        current = {"kind": activity.kind, "due_on": iso(activity.due_on) or "",
                   "due_time": service.time_text(activity) or "",
                   "note": activity.reveal("note"), "owner": ident(activity.owner_id) or ""}
        data = _data(given, current)
        _written(lambda: service.update(activity, data, actor=g.api_client))
    if "done" in given and given["done"] != activity.done:
        service.complete(activity, done=given["done"], actor=g.api_client)
    db.session.flush()  # the version the ETag names
    answer = tagged(to_json(activity), activity.version)
    db.session.commit()
    return answer


@bp.delete("/activities/<uuid:activity_id>")
@require_scope("crm:write")
def activity_delete(activity_id):
    activity = _usable(service.get(activity_id))
    check(activity)
    service.delete(activity, actor=g.api_client)
    db.session.commit()
    return "", 204


_id = {"type": ["string", "null"], "format": "uuid"}
_input = {
    "kind": {"enum": ["call", "meeting", "email", "task"]},
    "due_on": {"type": ["string", "null"], "format": "date"},
    "due_time": {"type": ["string", "null"], "pattern": "^[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$",
                 "description": "HH:MM on due_on, on the workspace's clock (the time zone of its country); "
                                "null: the whole day. Needs due_on."},
    "note": {"type": ["string", "null"], "maxLength": 10000},
    "done": {"type": "boolean"},
    "owner_id": {**_id, "description": "The member assigned to do it (a user id, as a deal's owner_id); null: nobody"},
    "contact_id": _id, "company_id": _id, "deal_id": _id,
}
openapi.add_schemas({
    "ActivityInput": {"type": "object", "additionalProperties": False, "properties": _input,
                      "description": "On create: kind and exactly one of contact_id, company_id, deal_id. "
                                     "The subject cannot be changed."},
    "Activity": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, **_input,
        "done_at": {"type": ["string", "null"], "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "changed_at": {"type": "string", "format": "date-time", "readOnly": True, "description": CHANGED_AT}}},
    "ActivityPage": openapi.page_schema("Activity"),
})
_one = [openapi.id_parameter("activity_id")]
_item = {"application/json": {"schema": openapi.ref("Activity")}}
_filters = [{"name": f"{s}_id", "in": "query", "schema": {"type": "string", "format": "uuid"}} for s in SUBJECTS]
_search = {**openapi.SEARCH_PARAMETER,
           "description": "The activities of the contacts, companies and deals this finds, as their own q does"}
_state = {"name": "state", "in": "query", "schema": {"enum": list(listed.STATES), "default": "all"},
          "description": "open: not done; due: not done and due by today; week: not done and due by a week "
                         "from today; overdue: not done and due before today, or today at a due_time already past; done; "
                         "all. Today and the time are the workspace's, on its clock (GET /api/v1/workspace)."}
openapi.add_paths({
    "/api/v1/activities": {
        "get": openapi.operation("List activities (oldest first), optionally of one subject, state or owner",
                                 scope="crm:read", errors=(400, 422),
                                 parameters=[*openapi.LIST_PARAMETERS, CHANGED_SINCE_PARAMETER, _search, *_filters, _state,
                                             openapi.OWNER_PARAMETER],
                                 responses={"200": {"description": "A page", "content": {"application/json": {
                                     "schema": openapi.ref("ActivityPage")}}}}),
        "post": openapi.operation("Create an activity", scope="crm:write", body="ActivityInput",
                                  errors=(400, 409, 415, 422),
                                  responses={"201": {"description": "Created", "content": _item}}),
    },
    "/api/v1/activities/{activity_id}": {
        "get": openapi.operation("Get an activity (409 while its contact is restricted)", scope="crm:read",
                                 parameters=_one, errors=(404, 409),
                                 responses={"200": {"description": "The activity", "content": _item}}),
        "patch": openapi.operation("Change kind, due date and time, note, owner or done", scope="crm:read crm:write", parameters=_one,
                                   body="ActivityInput", errors=(400, 404, 409, 415, 422),
                                   responses={"200": {"description": "The activity", "content": _item}}),
        "delete": openapi.operation("Delete an activity", scope="crm:write", parameters=_one, errors=(404, 409),
                                    responses={"204": {"description": "Deleted"}}),
    },
})

openapi.versioned("/api/v1/activities", "/api/v1/activities/{activity_id}")
