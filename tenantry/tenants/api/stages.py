"""/api/v1/stages and /api/v1/lost-reasons: the tenant's pipeline stages, in its order, and its
reasons for losing a deal, so that an integration can name the stage_id and lost_reason_id of a
deal it reads or writes. Their names describe the tenant's process, not people: no read event.
Both are managed in the UI by admins (crm/stages, crm/lost_reasons)."""

from __future__ import annotations

from flask import jsonify

from tenantry.platform.db import db
from tenantry.tenants.crm import lost_reasons, stages

from . import openapi
from .core import bp, require_scope


def to_json(stage) -> dict:
    return {"id": str(stage.id), "name": stage.name, "position": stage.position, "is_won": stage.is_won,
            "is_lost": stage.is_lost, "probability": stage.probability}


@bp.get("/stages")
@require_scope("crm:read")
def stage_list():
    # Seeded on first use, as the deal pages and POST /deals seed them: the ids listed here are
    # the ones a deal created next will take.
    pipeline = stages.ensure_defaults()
    db.session.commit()
    return jsonify({"items": [to_json(s) for s in pipeline], "next_cursor": None})


@bp.get("/lost-reasons")
@require_scope("crm:read")
def lost_reason_list():
    reasons = lost_reasons.ensure_defaults()  # seeded on first use, as the deal form seeds them
    db.session.commit()
    return jsonify({"items": [{"id": str(r.id), "name": r.name, "position": r.position} for r in reasons],
                    "next_cursor": None})


openapi.add_schemas({
    "LostReason": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "position": {"type": "integer", "description": "The reason's place in the workspace's list, from 1"}}},
    "LostReasonPage": openapi.page_schema("LostReason"),
    "Stage": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "position": {"type": "integer", "description": "The stage's place in the pipeline, from 1"},
        "is_won": {"type": "boolean"}, "is_lost": {"type": "boolean"},
        "probability": {"type": "integer", "minimum": 0, "maximum": 100,
                        "description": "Per cent of a deal's value that the weighted forecast counts "
                                       "(100 in a won stage, 0 in a lost one)"}}},
    "StagePage": openapi.page_schema("Stage"),
})
openapi.add_paths({
    "/api/v1/lost-reasons": {
        "get": openapi.operation("List the workspace's reasons for losing a deal, in its order (all of them: "
                                 "next_cursor is null)", scope="crm:read", errors=(),
                                 responses={"200": {"description": "The reasons", "content": {"application/json": {
                                     "schema": openapi.ref("LostReasonPage")}}}}),
    },
    "/api/v1/stages": {
        "get": openapi.operation("List the pipeline's stages, in its order (all of them: next_cursor is null)",
                                 scope="crm:read", errors=(),
                                 responses={"200": {"description": "The stages", "content": {"application/json": {
                                     "schema": openapi.ref("StagePage")}}}}),
    },
})
