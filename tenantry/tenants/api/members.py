"""/api/v1/members: the workspace's members, so that an integration can name the owner_id of a
deal or an activity (a member's user id) and tell who may be given one. Members are the
controller's own staff, not the people in its CRM: their names and e-mail addresses are what
an integration needs to match its users to them. Managed in the UI by admins (tenant members)."""

from __future__ import annotations

from flask import jsonify

from tenantry.platform.identity.models import Membership
from tenantry.tenants.crm import deals

from . import openapi
from .core import bp, require_scope


def to_json(membership: Membership) -> dict:
    return {"id": str(membership.user_id), "name": membership.user.name or None, "email": membership.user.email,
            "role": membership.role, "active": membership.deactivated_at is None}


@bp.get("/members")
@require_scope("crm:read")
def member_list():
    rows = deals.memberships()
    return jsonify({"items": [to_json(m) for m in rows], "next_cursor": None})


openapi.add_schemas({
    "Member": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid", "description": "What owner_id names"},
        "name": {"type": ["string", "null"]}, "email": {"type": "string", "format": "email"},
        "role": {"enum": ["owner", "admin", "member", "viewer"]},
        "active": {"type": "boolean", "description": "false: deactivated; keeps what they own, is given nothing new"}}},
    "MemberPage": openapi.page_schema("Member"),
})
openapi.add_paths({
    "/api/v1/members": {
        "get": openapi.operation("List the workspace's members, by name (all of them: next_cursor is null)",
                                 scope="crm:read", errors=(),
                                 responses={"200": {"description": "The members", "content": {"application/json": {
                                     "schema": openapi.ref("MemberPage")}}}}),
    },
})
