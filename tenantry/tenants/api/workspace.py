"""/api/v1/workspace: the workspace a token acts for, and its clock. An integration needs the
time zone to read what the CRM calls due today or overdue, an activity's due_time and the
won-this-month filter: all of them are on this clock, not the client's or UTC."""

from __future__ import annotations

from flask import jsonify

from tenantry.platform.tenancy import current_tenant
from tenantry.tenants import local_time

from . import openapi
from .core import bp, require_scope


@bp.get("/workspace")
@require_scope("crm:read")
def workspace():
    now = local_time.now()
    return jsonify({"id": str(current_tenant.id), "slug": current_tenant.slug, "name": current_tenant.name,
                    "country": current_tenant.country, "time_zone": now.tzinfo.key,
                    "today": now.date().isoformat(), "now": now.isoformat(timespec="seconds")})


openapi.add_schemas({
    "Workspace": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "slug": {"type": "string"}, "name": {"type": "string"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
        "time_zone": {"type": "string", "description": "The IANA zone of the CRM's clock: chosen by the "
                                                       "workspace's admins, else its country's"},
        "today": {"type": "string", "format": "date", "description": "The CRM's today: what due and overdue mean"},
        "now": {"type": "string", "format": "date-time", "description": "Now, with the zone's offset"}}},
})
openapi.add_paths({
    "/api/v1/workspace": {
        "get": openapi.operation("The workspace this token acts for, and its clock", scope="crm:read", errors=(),
                                 responses={"200": {"description": "The workspace", "content": {"application/json": {
                                     "schema": openapi.ref("Workspace")}}}}),
    },
})
