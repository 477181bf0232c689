"""/api/v1/stages: the tenant's pipeline stages, in its order, so that an integration can name
the stage_id of a deal it reads or writes. Stage names describe the tenant's process, not
people: no read event. Stages are managed in the UI by admins (crm/stages)."""

from __future__ import annotations

from flask import jsonify

from tenantry.platform.db import db
from tenantry.tenants.crm import stages

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


openapi.add_schemas({
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
    "/api/v1/stages": {
        "get": openapi.operation("List the pipeline's stages, in its order (all of them: next_cursor is null)",
                                 scope="crm:read", errors=(),
                                 responses={"200": {"description": "The stages", "content": {"application/json": {
                                     "schema": openapi.ref("StagePage")}}}}),
    },
})
