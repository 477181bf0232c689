"""/api/v1/deals: the CRM's deals, validated by the UI's DealForm."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, g, jsonify, request

from tenantry.platform.db import db
from tenantry.tenants.crm import deal_merge, forms, stages
from tenantry.tenants.crm import deals as service
from tenantry.tenants.crm.models import Deal, PipelineStage

from . import merging, openapi
from .common import (
    CHANGED_AT,
    CHANGED_SINCE_PARAMETER,
    answered,
    changed_since,
    commit_read,
    ident,
    iso,
    owner_filter,
    parse_uuid,
    query_arg,
    record_read,
    run_form,
    text,
    unchanged,
)
from .core import bp, json_body, require_scope, validation_error
from .pagination import paginate
from .preconditions import check, tagged

REFS = ("stage", "contact", "company", "owner", "lost_reason")
FIELDS = {"title": (str, None), "value": (str, int, float, None), "currency": (str, None),
          "expected_close": (str, None), "probability": (int, None), **{f"{ref}_id": (str, None) for ref in REFS}}
RENAMES = {ref: f"{ref}_id" for ref in REFS}


def _amount(deal: Deal) -> str:
    return f"{deal.value.normalize():f}"


def to_json(deal: Deal) -> dict:
    return {"id": str(deal.id), "title": deal.reveal("title"), "value": _amount(deal), "currency": deal.currency,
            "stage_id": ident(deal.stage_id), "expected_close": iso(deal.expected_close),
            "contact_id": ident(deal.contact_id), "company_id": ident(deal.company_id),
            "owner_id": ident(deal.owner_id), "lost_reason_id": ident(deal.lost_reason_id),
            "probability": deal.probability,
            # The stage is in the identity map after the first deal of a page in it.
            "win_probability": service.win_probability(deal, db.session.get(PipelineStage, deal.stage_id)),
            "created_at": iso(deal.created_at), "updated_at": iso(deal.updated_at),
            "stage_changed_at": iso(deal.stage_changed_at), "changed_at": iso(deal.changed_at)}


def _form_value(value) -> str:
    # A JSON number arrives as int or float; its shortest text is what the client wrote.
    return text(value) if isinstance(value, str) or value is None else repr(value)


def _validate(given: dict, current: dict) -> service.DealData:
    values = {name: text(given[name]) if name in given else current[name] for name in ("title", "currency",
                                                                                      "expected_close")}
    values["value"] = _form_value(given["value"]) if "value" in given else current["value"]
    values["probability"] = _form_value(given["probability"]) if "probability" in given else current["probability"]
    for ref in REFS:
        values[ref] = text(given[f"{ref}_id"]) if f"{ref}_id" in given else current[ref]
    if current["stage"] and not values["stage"]:
        # null is no stage, which a deal never is; read as "the first" it would silently move
        # a won deal back to Lead.
        raise validation_error({"stage_id": "A deal is always in a stage: send a stage's id, or leave "
                                            "stage_id out to keep it."})
    pipeline = stages.ensure_defaults()
    if not values["stage"]:
        values["stage"] = str(pipeline[0].id)  # the first stage, as the page preselects it
    # The form checks that an id is one of its choices; whether it exists in this workspace is
    # the service's check (deals.Refused), so each given id is offered as its own choice.
    offer = {f"{ref}_choices": [(values[ref], values[ref])] if values[ref] else []
             for ref in ("contact", "company", "owner", "lost_reason")}
    form = run_form(forms.DealForm, values, RENAMES, machine=True, stage_choices=[(str(s.id), s.name) for s in pipeline]
                    + ([(values["stage"], "?")] if values["stage"] not in {str(s.id) for s in pipeline} else []),
                    **offer)
    for ref in REFS:
        parse_uuid(values[ref], f"{ref}_id", {"stage": "pipeline stages", "owner": "members",
                                              "lost_reason": "reasons for losing a deal"}.get(ref, ref + "s"))
    data = form.data_for_service()
    stage = next((s for s in pipeline if s.id == data.stage_id), None)
    if given.get("lost_reason_id") and stage is not None and not stage.is_lost:
        # Asked for in so many words, it is refused rather than dropped (the service drops a
        # reason the deal keeps from before when it leaves a lost stage).
        raise validation_error({"lost_reason_id": "Only a lost deal has a reason for it: give a lost stage_id too."})
    return data


def _save(write, status: int = 200):
    try:
        deal = write()
    except service.Refused as exc:
        db.session.rollback()
        raise validation_error({f"{exc.field}_id": str(exc)}) from exc
    answer = tagged(to_json(deal), deal.version, status)
    db.session.commit()
    return answer


_EMPTY = {"title": "", "value": "", "currency": "", "expected_close": "", "probability": "",
          **dict.fromkeys(REFS, "")}


@bp.get("/deals")
@require_scope("crm:read")
def deal_list():
    q = query_arg()
    stmt = sa.select(Deal).where(*owner_filter(Deal.owner_id), *changed_since(Deal.changed_at))
    closing = service.close_conditions(request.args.get("close") or "")
    if closing is None:
        raise validation_error({"close": f"One of {', '.join(service.CLOSE_CHOICES)} (the open deals past their "
                                         "expected close date, or those won this month), won-YYYY-MM, "
                                         "lost-YYYY-MM or expected-YYYY-MM (those won or lost in that month, or "
                                         "open and expected to close in it), or won-since-YYYY-MM or "
                                         "lost-since-YYYY-MM (those won or lost from that month on)."})
    stmt = stmt.where(*closing)
    losing = service.reason_conditions(request.args.get("lost_reason_id") or "")
    if losing is None:
        raise validation_error({"lost_reason_id": f"The id of a lost reason (GET /api/v1/lost-reasons), or "
                                                  f"{service.NO_REASON}: the lost deals given no reason."})
    stmt = stmt.where(*losing)
    next_step = request.args.get("next") or ""
    if next_step not in ("", service.IDLE):
        raise validation_error({"next": f"Only {service.IDLE}: the open deals with no open activity."})
    if next_step:
        stmt = stmt.where(*service.idle())
    if q:
        stmt = stmt.where(service.matching(q))
    stage_id = request.args.get("stage_id")
    if stage_id:
        stmt = stmt.where(Deal.stage_id == parse_uuid(stage_id, "stage_id", "pipeline stages"))
    rows, cursor = paginate(stmt, keys=(Deal.created_at, Deal.id), name="deals")
    items = [to_json(d) for d in rows]
    record_read("deal", [d.id for d in rows], listed=True)
    commit_read()
    return jsonify({"items": items, "next_cursor": cursor})


@bp.post("/deals")
@require_scope("crm:write")
def deal_create():
    data = _validate(json_body(FIELDS), _EMPTY)
    return _save(lambda: service.create(data, actor=g.api_client), 201)


@bp.get("/deals/<uuid:deal_id>")
@require_scope("crm:read")
def deal_get(deal_id):
    deal = service.get(deal_id) or abort(404)
    body = to_json(deal)
    return answered("deal", deal.id, body, deal.version)


@bp.patch("/deals/<uuid:deal_id>")
@require_scope("crm:read", "crm:write")  # the answer shows the whole record
def deal_update(deal_id):
    deal = service.get(deal_id) or abort(404)
    check(deal)
    given = json_body(FIELDS)
    current = {"title": deal.reveal("title"), "value": _amount(deal), "currency": deal.currency,
               "expected_close": iso(deal.expected_close) or "",
               "probability": str(deal.probability) if deal.probability is not None else "",
               **{ref: ident(getattr(deal, f"{ref}_id")) or "" for ref in REFS}}
    data = _validate(given, current)
    if unchanged(data, lambda: _validate({}, current)):  # answered, not written: a read (contacts.py)
        return answered("deal", deal.id, to_json(deal), deal.version)
    return _save(lambda: service.update(deal, data, actor=g.api_client))


@bp.post("/deals/<uuid:deal_id>/merge")
@require_scope("crm:read", "crm:write")  # the answer shows both records merged
def deal_merge_into(deal_id):
    keep = service.get(deal_id) or abort(404)
    other, other_etag = merging.the_other(keep.id, service.get, "deal", "deals")
    return merging.merged(keep, other, other_etag, deal_merge.merge, to_json)


@bp.delete("/deals/<uuid:deal_id>")
@require_scope("crm:write")
def deal_delete(deal_id):
    deal = service.get(deal_id) or abort(404)
    check(deal)
    service.delete(deal, actor=g.api_client)
    db.session.commit()
    return "", 204


_id = {"type": ["string", "null"], "format": "uuid"}
_input = {
    "title": {"type": "string", "maxLength": 300},
    "value": {"type": ["string", "number"], "description": "Decimal, e.g. \"12500.50\"; at most the currency's places"},
    "currency": {"type": "string", "description": "ISO 4217, e.g. EUR"},
    "expected_close": {"type": ["string", "null"], "format": "date"},
    "stage_id": {**_id, "description": "Default: the first stage of the pipeline"},
    "contact_id": _id, "company_id": _id, "owner_id": {**_id, "description": "A member's user id"},
    "lost_reason_id": {**_id, "description": "Why a lost deal was lost: one of GET /api/v1/lost-reasons; only in a "
                                             "lost stage (a deal moved out of one loses it)"},
    "probability": {"type": ["integer", "null"], "minimum": 0, "maximum": 100,
                    "description": "This deal's own chance of being won, in per cent, over its stage's "
                                   "(null: the stage's). It counts while the deal is open"},
}
openapi.add_schemas({
    "DealInput": {"type": "object", "additionalProperties": False, "properties": _input,
                  "description": "title, value and currency are required on create."},
    "Deal": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, **_input, "value": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "changed_at": {"type": "string", "format": "date-time", "readOnly": True, "description": CHANGED_AT},
        "win_probability": {"type": "integer", "readOnly": True,
                            "description": "What the weighted forecast counts, in per cent: the deal's own "
                                           "probability, else its stage's; 100 when won, 0 when lost"},
        "stage_changed_at": {"type": "string", "format": "date-time", "readOnly": True,
                             "description": "When the deal entered its stage: for a won or lost deal, when it closed"}}},
    "DealPage": openapi.page_schema("Deal"),
})
_one = [openapi.id_parameter("deal_id")]
_item = {"application/json": {"schema": openapi.ref("Deal")}}
_stage_filter = {"name": "stage_id", "in": "query", "schema": {"type": "string", "format": "uuid"}}
_close_filter = {"name": "close", "in": "query",
                 "schema": {"anyOf": [{"enum": list(service.CLOSE_CHOICES)},
                                      {"type": "string", "pattern": f"^{service.CLOSED_IN.pattern}$",
                                       "examples": ["won-2027-02", "lost-2027-02", "expected-2027-04"]},
                                      {"type": "string", "pattern": f"^{service.CLOSED_SINCE.pattern}$",
                                       "examples": ["lost-since-2026-03"]}]},
                 "description": "late: only the open deals (in a stage neither won nor lost) whose expected close "
                                "date has passed; won-this-month: only the deals won (moved to a won stage) in the "
                                "current month; won-YYYY-MM or lost-YYYY-MM: those won or lost in that month; "
                                "won-since-YYYY-MM or lost-since-YYYY-MM: those won or lost from that month on; "
                                "expected-YYYY-MM: the open deals expected to close in that month. Dates are the "
                                "workspace's, on its clock (GET /api/v1/workspace)."}
_reason_filter = {"name": "lost_reason_id", "in": "query",
                  "schema": {"anyOf": [{"type": "string", "format": "uuid"}, {"const": service.NO_REASON}]},
                  "description": "Only the deals lost for this reason (GET /api/v1/lost-reasons), or, with none, "
                                 "those lost with no reason given"}
_next_filter = {"name": "next", "in": "query", "schema": {"const": "none"},
                "description": "none: only the open deals with no open activity (nothing planned to move them on)"}
_search = {**openapi.SEARCH_PARAMETER, "description": "Whole words of the title, or the deal's contact or company as "
                                                      "their own q finds them"}
openapi.add_paths({
    "/api/v1/deals": {
        "get": openapi.operation("List deals (oldest first), optionally of one stage or owner, late or idle",
                                 scope="crm:read",
                                 errors=(400, 422),
                                 parameters=[*openapi.LIST_PARAMETERS, CHANGED_SINCE_PARAMETER, _search, _stage_filter,
                                             openapi.OWNER_PARAMETER, _close_filter, _next_filter,
                                             _reason_filter],
                                 responses={"200": {"description": "A page", "content": {"application/json": {
                                     "schema": openapi.ref("DealPage")}}}}),
        "post": openapi.operation("Create a deal", scope="crm:write", body="DealInput", errors=(400, 415, 422),
                                  responses={"201": {"description": "Created", "content": _item}}),
    },
    "/api/v1/deals/{deal_id}": {
        "get": openapi.operation("Get a deal", scope="crm:read", parameters=_one, errors=(404,),
                                 responses={"200": {"description": "The deal", "content": _item}}),
        "patch": openapi.operation("Change some fields of a deal", scope="crm:read crm:write", parameters=_one,
                                   body="DealInput", errors=(400, 404, 415, 422),
                                   responses={"200": {"description": "The deal", "content": _item}}),
        "delete": openapi.operation("Delete a deal (its activities go with it)", scope="crm:write",
                                    parameters=_one, errors=(404,), responses={"204": {"description": "Deleted"}}),
    },
    "/api/v1/deals/{deal_id}/merge": {"post": merging.operation(
        "Merge another deal into this one: it keeps its title, value, currency and stage and takes the other's "
        "expected close date, contact, company and owner where it has none; the other's activities move over and "
        "the other is deleted", "Deal", "deal_id")},
})

openapi.versioned("/api/v1/deals", "/api/v1/deals/{deal_id}")
