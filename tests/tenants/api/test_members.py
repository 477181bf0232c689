"""GET /api/v1/members: who an integration may name as owner_id, with whether they are still
active; this workspace's members only; in the OpenAPI document."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import all_tenants
from tests.identity.support import in_app, new_member, new_tenant


def test_the_members_with_their_ids_roles_and_whether_active(api, api_app, acme, http):
    olga = new_member(api_app, acme, "member", email="olga@acme.example.com")
    viewer = new_member(api_app, acme, "viewer", email="vera@acme.example.com")
    new_member(api_app, new_tenant(api_app, "globex"), "member", email="someone@globex.example.com")
    with in_app(api_app), all_tenants():
        db.session.get(User, olga.id).name = "Olga Dvořáková"
        db.session.execute(sa.update(Membership).where(Membership.user_id == viewer.id)
                           .values(deactivated_at=clock.now()))
    answer = api.get("/api/v1/members")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["next_cursor"] is None
    listed = {m["email"]: m for m in body["items"]}
    assert "someone@globex.example.com" not in listed
    assert listed["olga@acme.example.com"] == {"id": str(olga.id), "name": "Olga Dvořáková",
                                               "email": "olga@acme.example.com", "role": "member", "active": True}
    assert listed["vera@acme.example.com"]["active"] is False and listed["vera@acme.example.com"]["role"] == "viewer"
    assert listed[acme.owner.email]["role"] == "owner"
    # The id is what owner_id takes.
    jana = api.post("/api/v1/contacts", json={"first_name": "Jana"}).get_json()["id"]
    made = api.post("/api/v1/activities", json={"kind": "call", "contact_id": jana,
                                                "owner_id": listed["olga@acme.example.com"]["id"]})
    assert made.status_code == 201, made.get_json()
    assert "/api/v1/members" in http.get("/api/v1/openapi.json").get_json()["paths"]
