"""/api/v1/exports: a full export of the workspace for API clients with scope `export`
[DPA-4.10, DSR-portability]: start one (202), poll it, download the ZIP within 7 days."""

from __future__ import annotations

import uuid

from flask import Response, abort, g, jsonify, stream_with_context, url_for

from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.lifecycle import export as service
from tenantry.tenants.lifecycle.export_models import Export

from . import openapi
from .common import iso
from .core import bp, require_scope
from .errors import ApiError


def to_json(item: Export) -> dict:
    body = {"id": str(item.id), "status": item.status, "progress": item.progress,
            "created_at": iso(item.created_at), "finished_at": iso(item.finished_at),
            "expires_at": iso(item.expires_at), "row_counts": item.row_counts, "download_url": None}
    if item.available:
        body["download_url"] = url_for("api.export_download", export_id=item.id)
    return body


def _get(export_id: uuid.UUID) -> Export:
    item = service.get(export_id)  # another workspace's export is not found here
    if item is None:
        abort(404)
    return item


@bp.post("/exports")
@require_scope("export")
def export_start():
    item = service.request(requested_by=g.api_client)
    body = {"id": str(item.id), "status": item.status}
    location = url_for("api.export_show", export_id=item.id)
    db.session.commit()
    return jsonify(body), 202, {"Location": location}


@bp.get("/exports/<uuid:export_id>")
@require_scope("export")
def export_show(export_id: uuid.UUID):
    body = to_json(_get(export_id))
    db.session.commit()  # the client's last use
    return jsonify(body)


@bp.get("/exports/<uuid:export_id>/download")
@require_scope("export")
def export_download(export_id: uuid.UUID):
    item = _get(export_id)
    if item.status != "done":
        raise ApiError(409, "not_ready", f"The export is {item.status}; download it when its status is done.")
    try:
        chunks = service.download(item, actor=g.api_client)
    except service.NotAvailable as exc:
        raise ApiError(410, "expired", f"The export's {service.DOWNLOAD_DAYS} days are over; start a new one.") from exc
    name = service.filename(item, current_tenant)
    db.session.commit()
    return Response(stream_with_context(chunks), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": openapi.ref("Error")}}}


openapi.add_schemas({
    "ExportStarted": {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "status": {"const": "queued"}}},
    "Export": {"type": "object", "required": ["id", "status", "progress"], "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"enum": ["queued", "running", "done", "failed"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time",
                       "description": "The download works until then (7 days after it is done)"},
        "row_counts": {"type": ["object", "null"], "additionalProperties": {"type": "integer"}},
        "download_url": {"type": ["string", "null"]}}},
})
_download = openapi.operation("Download the export's ZIP (while status is done, for 7 days)", scope="export",
                              errors=(404,), parameters=[openapi.id_parameter("export_id")],
                              responses={"200": {"description": "The ZIP", "content": {"application/zip": {}}}})
_download["responses"].update({"409": _error("The export is not done yet"),
                               "410": _error("The export's 7 days are over")})
openapi.add_paths({
    "/api/v1/exports": {"post": openapi.operation(
        "Start a full export of the workspace (a ZIP of JSON and CSV per entity with a manifest)",
        scope="export", errors=(409,),
        responses={"202": {"description": "Queued; poll the Location", "content": {
            "application/json": {"schema": openapi.ref("ExportStarted")}}}})},
    "/api/v1/exports/{export_id}": {"get": openapi.operation(
        "An export's status and progress", scope="export", errors=(404,),
        parameters=[openapi.id_parameter("export_id")],
        responses={"200": {"description": "The export", "content": {
            "application/json": {"schema": openapi.ref("Export")}}}})},
    "/api/v1/exports/{export_id}/download": {"get": _download},
})
