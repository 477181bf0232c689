"""owner_id of activities in the API: written on create and PATCH (null: nobody), read back,
refused as a 4xx on owner_id when it names no member of this workspace; in the OpenAPI
document. The member given one is told, naming the integration."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform import clock, notify
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import contacts
from tests.identity.support import in_app, new_member
from tests.tenants.api.conftest import error_of


def test_the_api_reads_and_writes_owner_id(api, api_app, http, acme):
    olga = new_member(api_app, acme, "member", email="olga@acme.example.com")
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana")).id
    w = {"jana": jana, "olga": olga}
    made = api.post("/api/v1/activities", json={"kind": "task", "contact_id": str(w["jana"]),
                                                  "owner_id": str(w["olga"].id)})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["owner_id"] == str(w["olga"].id)
    with in_app(api_app, commit=False), all_tenants():
        told = db.session.execute(sa.select(notify.Notification.to_email, notify.Notification.subject)
                                  .where(notify.Notification.kind == "crm.assigned")).all()
    assert told == [("olga@acme.example.com", 'Acme: The integration "Sync" assigned you 1 activity')]
    changed = api.patch(f"/api/v1/activities/{made.get_json()['id']}", json={"owner_id": None})
    assert changed.status_code == 200 and changed.get_json()["owner_id"] is None
    for bad, status in ((str(uuid.uuid4()), 422), ("not-an-id", 422), (5, 400)):
        refused = api.post("/api/v1/activities", json={"kind": "task", "contact_id": str(w["jana"]), "owner_id": bad})
        assert refused.status_code == status and "owner_id" in error_of(refused)["fields"], refused.get_json()
    schema = http.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert "owner_id" in schema["ActivityInput"]["properties"] and "owner_id" in schema["Activity"]["properties"]


def test_the_api_gives_nothing_to_a_deactivated_member(api, api_app, acme):
    olga = new_member(api_app, acme, "member", email="olga@acme.example.com")
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana")).id
        db.session.execute(sa.update(Membership).where(Membership.user_id == olga.id)
                           .values(deactivated_at=clock.now()))
    refused = api.post("/api/v1/activities", json={"kind": "task", "contact_id": str(jana), "owner_id": str(olga.id)})
    assert refused.status_code == 422
    assert "active member" in error_of(refused)["fields"]["owner_id"], refused.get_json()
