"""/api/v1/stages: the pipeline in the tenant's order, for the stage_id of deals; seeded on
first use as the deal pages seed it; scoped to the token's tenant and to crm:read."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import stages
from tests.identity.support import in_app

from .conftest import Bearer, new_client, token_for


def test_the_pipeline_in_order_with_the_ids_deals_take(api, api_app, acme):
    listed = api.get("/api/v1/stages")
    assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"
    body = listed.get_json()
    assert body["next_cursor"] is None
    assert [(s["name"], s["position"], s["is_won"], s["is_lost"], s["probability"]) for s in body["items"]] == [
        ("Lead", 1, False, False, 10), ("Qualified", 2, False, False, 25), ("Proposal", 3, False, False, 50),
        ("Negotiation", 4, False, False, 75), ("Won", 5, True, False, 100), ("Lost", 6, False, True, 0)]
    ids = [s["id"] for s in body["items"]]
    assert api.get("/api/v1/stages").get_json()["items"] == body["items"]  # seeded once
    made = api.post("/api/v1/deals", json={"title": "Renewal", "value": "10", "currency": "EUR"}).get_json()
    assert made["stage_id"] == ids[0]
    won = api.patch(f"/api/v1/deals/{made['id']}", json={"stage_id": ids[4]})
    assert won.status_code == 200 and won.get_json()["stage_id"] == ids[4]

    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        stages.add("Contract sent")
    added = api.get("/api/v1/stages").get_json()["items"][4]  # open: before Won and Lost
    assert (added["name"], added["position"], added["probability"]) == ("Contract sent", 5, 100)


def test_each_tenant_has_its_own_and_reading_them_needs_crm_read(http, api, api_app, acme, globex):
    ours = {s["id"] for s in api.get("/api/v1/stages").get_json()["items"]}
    theirs = Bearer(http, token_for(http, new_client(api_app, globex)))
    assert not ours & {s["id"] for s in theirs.get("/api/v1/stages").get_json()["items"]}
    exports_only = Bearer(http, token_for(http, new_client(api_app, acme, scopes="export")))
    refused = exports_only.get("/api/v1/stages")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"
    assert http.get("/api/v1/stages").status_code == 401
