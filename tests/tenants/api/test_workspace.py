"""GET /api/v1/workspace: the workspace the token acts for and its clock (the zone its admins
chose, else its country's), so an integration reads due dates and times as the CRM does; in the
OpenAPI document; another workspace's token sees its own."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tests.identity.support import in_app


def test_the_workspace_and_its_clock(api, api_app, http, acme, time_machine):
    now = datetime.now(UTC)
    late = datetime.combine(now.date(), time(23, 30), UTC)
    time_machine.move_to(late if late <= now else late - timedelta(days=1), tick=False)  # before the token expires
    body = api.get("/api/v1/workspace").get_json()
    assert {k: body[k] for k in ("id", "slug", "country", "time_zone")} == {
        "id": str(acme.id), "slug": "acme", "country": "CZ", "time_zone": "Europe/Prague"}
    # 23:30 UTC is already the next day in Prague.
    assert body["today"] > datetime.now(UTC).date().isoformat() and body["now"][11:13] in ("00", "01")
    with in_app(api_app):
        db.session.get(Tenant, acme.id).time_zone = "America/Los_Angeles"
    body = api.get("/api/v1/workspace").get_json()
    assert body["time_zone"] == "America/Los_Angeles" and body["today"] == datetime.now(UTC).date().isoformat()
    assert body["now"].endswith("-08:00") or body["now"].endswith("-07:00")
    assert "/api/v1/workspace" in http.get("/api/v1/openapi.json").get_json()["paths"]
