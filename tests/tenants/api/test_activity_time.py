"""due_time of activities in the API: HH:MM on due_on, written on create and PATCH (null: the
whole day), read back, refused as a 422 on due_time when it is no time or has no date, as the
UI refuses it; in the OpenAPI document."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tests.identity.support import in_app
from tests.tenants.api.conftest import error_of


def test_the_api_reads_writes_and_checks_due_time(api, api_app, http, acme):
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = str(contacts.create(contacts.ContactData(first_name="Jana")).id)
    made = api.post("/api/v1/activities", json={"kind": "meeting", "contact_id": jana, "due_on": "2030-01-15",
                                                "due_time": "9:05"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["due_on"], body["due_time"]) == ("2030-01-15", "09:05")
    path = f"/api/v1/activities/{body['id']}"
    assert api.get(path).get_json()["due_time"] == "09:05"
    assert api.patch(path, json={"due_time": "16:45"}).get_json()["due_time"] == "16:45"
    # The date cannot go while the time stays; both together can.
    refused = api.patch(path, json={"due_on": None})
    assert refused.status_code == 422 and "due_time" in error_of(refused)["fields"], refused.get_json()
    cleared = api.patch(path, json={"due_on": None, "due_time": None}).get_json()
    assert (cleared["due_on"], cleared["due_time"]) == (None, None)

    for given in ({"due_time": "14:30"}, {"due_on": "2030-01-15", "due_time": "24:00"},
                  {"due_on": "2030-01-15", "due_time": "noon"}):
        refused = api.post("/api/v1/activities", json={"kind": "call", "contact_id": jana, **given})
        assert refused.status_code == 422 and list(error_of(refused)["fields"]) == ["due_time"], given
    assert api.post("/api/v1/activities", json={"kind": "call", "contact_id": jana, "due_on": "2030-01-15",
                                                "due_time": 1430}).status_code == 400
    schema = http.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert "due_time" in schema["ActivityInput"]["properties"] and "due_time" in schema["Activity"]["properties"]
