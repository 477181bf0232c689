"""The API's lists of deals and activities filtered as the UI's are: by whom they are assigned
to (a member, or "none" for no one), deals that are late (open, past their expected close
date) and activities by state (open, due by today, overdue, done, all); a bad value is a 422 on its field, as a bad stage_id is; both are in the
OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, contacts, deals, stages
from tenantry.tenants.crm.models import Activity
from tests.identity.support import in_app, new_member
from tests.tenants.api.conftest import error_of


@pytest.fixture
def world(api_app, acme):
    olga = new_member(api_app, acme, "member", email="olga@acme.example.com")
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        today = local_time.today()
        jana = contacts.create(contacts.ContactData(first_name="Jana"))
        lead = stages.ensure_defaults()[0].id
        made = {}
        won = next(s for s in stages.ordered() if s.is_won).id
        for title, owner, stage, days in (("Olga's deal", olga.id, lead, -1), ("Nobody's deal", None, lead, 1),
                                          ("Won deal", None, won, -1)):
            made[title] = deals.create(deals.DealData(title=title, value=Decimal("10"), currency="CZK",
                                                      stage_id=stage, owner_id=owner,
                                                      expected_close=today + timedelta(days=days))).id
        for note, days, owner in (("late", -2, olga.id), ("today", 0, olga.id), ("tomorrow", 1, None),
                                  ("finished", -1, olga.id)):
            made[note] = activities.create("contact", jana.id, activities.ActivityData(
                kind="task", due_on=today + timedelta(days=days), note=note, owner_id=owner)).id
        activities.complete(db.session.get(Activity, made["finished"]))
    return {"olga": olga, **made}


def _ids(api, path: str) -> set[str]:
    answer = api.get(path)
    assert answer.status_code == 200, answer.get_json()
    return {item["id"] for item in answer.get_json()["items"]}


def test_deals_and_activities_by_owner_and_activities_by_state(api, world):
    olga = world["olga"].id
    assert _ids(api, f"/api/v1/deals?owner_id={olga}") == {str(world["Olga's deal"])}
    assert _ids(api, "/api/v1/deals?owner_id=none") == {str(world["Nobody's deal"]), str(world["Won deal"])}
    assert len(_ids(api, "/api/v1/deals")) == 3
    # Late: open and past the expected close date (not the won one, nor the one closing tomorrow).
    assert _ids(api, "/api/v1/deals?close=late") == {str(world["Olga's deal"])}
    assert _ids(api, "/api/v1/deals?close=late&owner_id=none") == set()
    expected = {
        f"/api/v1/activities?owner_id={olga}": {"late", "today", "finished"},
        "/api/v1/activities?owner_id=none": {"tomorrow"},
        "/api/v1/activities": {"late", "today", "tomorrow", "finished"},  # all, as before the filter
        "/api/v1/activities?state=open": {"late", "today", "tomorrow"},
        "/api/v1/activities?state=due": {"late", "today"},
        "/api/v1/activities?state=overdue": {"late"},
        "/api/v1/activities?state=week": {"late", "today", "tomorrow"},
        "/api/v1/activities?state=done": {"finished"},
        f"/api/v1/activities?state=due&owner_id={olga}&limit=1": {"late"},  # the first page of two
    }
    for path, notes in expected.items():
        assert _ids(api, path) == {str(world[n]) for n in notes}, path


@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/deals?owner_id=olga", "owner_id"),
    ("/api/v1/activities?owner_id=nobody", "owner_id"),
    ("/api/v1/activities?state=late", "state"),
    ("/api/v1/deals?close=soon", "close"),
    ("/api/v1/deals?next=soon", "next"),
])
def test_a_bad_filter_is_a_422_on_its_field(api, world, path, field):
    answer = api.get(path)
    assert answer.status_code == 422 and field in error_of(answer)["fields"], answer.get_json()


def test_open_deals_with_no_open_activity(api, world):
    """next=none: open deals (not the won one) with nothing planned; planning something takes
    one off."""
    assert _ids(api, "/api/v1/deals?next=none") == {str(world["Olga's deal"]), str(world["Nobody's deal"])}
    planned = api.post("/api/v1/activities", json={"kind": "call", "deal_id": str(world["Nobody's deal"])})
    assert planned.status_code == 201, planned.get_json()
    assert _ids(api, "/api/v1/deals?next=none") == {str(world["Olga's deal"])}


def test_an_id_of_no_member_finds_nothing(api, world):
    assert _ids(api, f"/api/v1/activities?owner_id={uuid.uuid4()}") == set()


def test_the_filters_are_in_the_openapi_document(http):
    paths = http.get("/api/v1/openapi.json").get_json()["paths"]
    activity_params = {p["name"] for p in paths["/api/v1/activities"]["get"]["parameters"]}
    deal_params = {p["name"] for p in paths["/api/v1/deals"]["get"]["parameters"]}
    assert {"state", "owner_id"} <= activity_params and {"owner_id", "close", "next"} <= deal_params
    for path in ("/api/v1/activities", "/api/v1/deals", "/api/v1/contacts"):
        assert "422" in paths[path]["get"]["responses"], path
