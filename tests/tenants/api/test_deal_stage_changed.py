"""stage_changed_at of deals in the API: when the deal entered its stage, read only, moved by a
change of stage and by nothing else; close=won-this-month lists the deals won this month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import stages
from tests.identity.support import in_app


def test_the_api_gives_when_the_deal_entered_its_stage(api_app, api, acme, time_machine):
    made = api.post("/api/v1/deals", json={"title": "Gates", "value": "10", "currency": "CZK"})
    assert made.status_code == 201, made.get_json()
    first = made.get_json()["stage_changed_at"]
    assert first == made.get_json()["created_at"]
    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        second = str(stages.ensure_defaults()[1].id)
    time_machine.move_to(datetime.now(UTC) + timedelta(minutes=5), tick=False)
    moved = api.patch(f"/api/v1/deals/{made.get_json()['id']}", json={"stage_id": second}).get_json()
    assert moved["stage_changed_at"] > first
    renamed = api.patch(f"/api/v1/deals/{made.get_json()['id']}", json={"title": "Forged gates"}).get_json()
    assert renamed["stage_changed_at"] == moved["stage_changed_at"]


def test_the_api_lists_the_deals_won_this_month(api, api_app, acme):
    made = [api.post("/api/v1/deals", json={"title": title, "value": "10", "currency": "CZK"}).get_json()["id"]
            for title in ("Gates", "Fence")]  # the first makes the default pipeline
    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        won = str(next(s for s in stages.ordered() if s.is_won).id)
    assert api.patch(f"/api/v1/deals/{made[0]}", json={"stage_id": won}).status_code == 200
    listed = api.get("/api/v1/deals?close=won-this-month")
    assert listed.status_code == 200 and [d["id"] for d in listed.get_json()["items"]] == [made[0]]
