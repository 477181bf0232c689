"""/api/v1/audit-events (scope audit:read): the workspace's trail with the audit page's filters,
newest first in cursor pages, ids and metadata only, reading it audited, another workspace's
events not found, and bad filters, scopes and cursors refused with the API's error shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tests.identity.support import in_app
from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for

JANA = {"first_name": "Jana", "last_name": "Nováková", "email": "jana.novakova@example.com",
        "notes": "Allergic to penicillin"}


@pytest.fixture
def auditor(http, api_app, acme) -> Bearer:
    """A bearer client of acme that reads the trail only."""
    return Bearer(http, token_for(http, new_client(api_app, acme, scopes="audit:read", name="SIEM")))


def _events(app, tenant_id, action: str) -> list[AuditEvent]:
    with in_app(app, commit=False):
        rows = db.session.execute(sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id,
                                                              AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).scalars().all()
        db.session.expunge_all()
        return list(rows)


def _all_pages(client, **query) -> list[dict]:
    items, cursor = [], None
    while True:
        response = client.get("/api/v1/audit-events", query_string={**query, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_who_read_and_changed_which_record_when_with_ids_and_field_names_only(api, auditor, api_app, acme):
    jana = api.post("/api/v1/contacts", json=JANA).get_json()["id"]
    petr = api.post("/api/v1/contacts", json={"first_name": "Petr"}).get_json()["id"]
    assert api.patch(f"/api/v1/contacts/{jana}", json={"notes": "Now vegetarian", "position": "CFO"}).status_code == 200
    assert api.get(f"/api/v1/contacts/{jana}").status_code == 200
    assert api.get("/api/v1/contacts").status_code == 200
    assert api.delete(f"/api/v1/contacts/{petr}").status_code == 204

    response = auditor.get("/api/v1/audit-events", query_string={"record_type": "contact", "record_id": jana})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["next_cursor"] is None
    actions = [e["action"] for e in body["items"]]
    # Newest first; the list read names Jana among the ids it showed.
    assert actions == ["crm.contact.listed", "crm.contact.viewed", "crm.contact.updated", "crm.contact.created"]
    listed, viewed, updated, created = body["items"]
    assert jana in listed["records_read"] and petr in listed["records_read"] and listed["target"]["id"] is None
    assert viewed["records_read"] == [jana] and viewed["target"] == {"type": "contact", "id": jana}
    assert updated["outcome"] == "success" and updated["target"] == {"type": "contact", "id": jana}
    sync = new_client_id(api_app, acme, "Sync")
    for item in body["items"]:
        assert item["actor"] == {"type": "api_client", "id": sync}
        assert item["ip"] == "127.0.0.1" and item["user_agent"] is not None
        assert datetime.fromisoformat(item["occurred_at"]).tzinfo is not None
        assert set(item) == {"id", "seq", "occurred_at", "actor", "ip", "user_agent", "action", "target", "outcome",
                             "fields_changed", "records_read"}
    assert [e["seq"] for e in body["items"]] == sorted((e["seq"] for e in body["items"]), reverse=True)
    text = response.get_data(as_text=True)
    for secret in ("Jana", "Nováková", "jana.novakova", "penicillin", "vegetarian", "CFO"):
        assert secret not in text

    deleted = auditor.get("/api/v1/audit-events", query_string={"action": "crm.contact.deleted"}).get_json()["items"]
    assert [(e["target"]["id"], e["actor"]["id"]) for e in deleted] == [(petr, sync)]

    one = auditor.get(f"/api/v1/audit-events/{updated['id']}")
    assert one.status_code == 200 and one.get_json() == updated


@pytest.mark.obligation("DPA-B.logging")
def test_a_change_shows_the_names_of_its_fields_never_the_values(auditor, api_app, acme):
    from tenantry.platform import audit
    from tenantry.platform.tenancy import Tenant, tenant_context

    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        event = audit.record("crm.contact.updated", actor_type="system", tenant_id=acme.id, target_type="contact",
                             target_id="c-1", changes={"notes": ("Allergic to penicillin", "Now vegetarian"),
                                                       "position": (None, "CFO")})
        db.session.flush()
        event_id = event.id
    listed = auditor.get("/api/v1/audit-events", query_string={"action": "crm.contact.updated"})
    [item] = listed.get_json()["items"]
    assert item["id"] == event_id and item["fields_changed"] == ["notes", "position"]
    assert item["actor"] == {"type": "system", "id": None}
    one = auditor.get(f"/api/v1/audit-events/{event_id}")
    assert one.get_json() == item
    for response in (listed, one):
        for value in ("penicillin", "vegetarian", "CFO"):
            assert value not in response.get_data(as_text=True)


def new_client_id(app, tenant, name: str) -> str:
    from tenantry.platform.tenancy import Tenant, tenant_context
    from tenantry.tenants.api.models import ApiClient

    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant.id)):
        return str(db.session.execute(sa.select(ApiClient.id).where(ApiClient.tenant_id == tenant.id,
                                                                    ApiClient.name == name)).scalar_one())


@pytest.mark.obligation("DPA-B.logging")
def test_reading_the_trail_through_the_api_is_itself_audited(api, auditor, api_app, acme):
    api.post("/api/v1/contacts", json={"first_name": "Eva"})
    listed = auditor.get("/api/v1/audit-events", query_string={"action": "crm.contact.created", "limit": 5})
    assert listed.status_code == 200
    event_id = listed.get_json()["items"][0]["id"]
    assert auditor.get(f"/api/v1/audit-events/{event_id}").status_code == 200

    siem = new_client_id(api_app, acme, "SIEM")
    viewed = _events(api_app, acme.id, "audit.viewed")
    assert [(e.actor_type, e.actor_id, e.target_type) for e in viewed] == [
        ("api_client", siem, "audit_trail"), ("api_client", siem, "audit_event")]
    assert viewed[0].details["filters"] == {"action": "crm.contact.created"}
    assert viewed[0].details["shown"] == 1 and viewed[0].details["via"] == "api"
    assert viewed[1].target_id == str(event_id) and viewed[1].details["values_shown"] is False
    # The viewing is in the trail the API reads, too.
    mine = auditor.get("/api/v1/audit-events", query_string={"actor": f"api_client:{siem}"}).get_json()["items"]
    assert [e["action"] for e in mine] == ["audit.viewed", "audit.viewed", "api_client.token_issued"]
    # A bare id matches an actor of any kind; another kind does not.
    assert [e["id"] for e in auditor.get("/api/v1/audit-events", query_string={"actor": siem}).get_json()["items"]][1:] \
        == [e["id"] for e in mine]
    assert auditor.get("/api/v1/audit-events", query_string={"actor": f"user:{siem}"}).get_json()["items"] == []


@pytest.mark.obligation("DPA-B.logging")
def test_time_range_by_workspace_day_or_exact_instant(http, api_app, acme, time_machine):
    # acme is in CZ: local days are Europe/Prague (UTC+2 in summer).
    writer = new_client(api_app, acme)
    made = {}
    for when in (datetime(2026, 5, 1, 21, 30, tzinfo=UTC),   # 1 May 23:30 in Prague
                 datetime(2026, 5, 1, 22, 30, tzinfo=UTC),   # 2 May 00:30 in Prague
                 datetime(2026, 5, 3, 9, 0, tzinfo=UTC)):
        time_machine.move_to(when, tick=False)
        client = Bearer(http, token_for(http, writer))
        made[when] = client.post("/api/v1/contacts", json={"first_name": "X"}).get_json()["id"]
    time_machine.move_to(datetime(2026, 5, 4, 8, 0, tzinfo=UTC), tick=False)
    auditor = Bearer(http, token_for(http, new_client(api_app, acme, scopes="audit:read", name="SIEM")))
    first, second, third = made.values()

    def created(**query):
        items = _all_pages(auditor, action="crm.contact.created", **query)
        return [e["target"]["id"] for e in items]

    assert created() == [third, second, first]
    assert created(since="2026-05-02", until="2026-05-02") == [second]
    assert created(until="2026-05-01") == [first]
    assert created(since="2026-05-02") == [third, second]
    assert created(since="2026-05-01T22:30:00Z") == [third, second]  # inclusive
    assert created(until="2026-05-01T22:30:00+00:00") == [first]  # exclusive
    assert created(since="2026-05-02T00:00:00+02:00", until="2026-05-03T11:00:00+02:00") == [second]
    assert created(since="2026-05-05") == []


@pytest.mark.parametrize(("query", "field"), [
    ({"actor": "robot:123"}, "actor"),
    ({"actor": "user:<script>"}, "actor"),
    ({"record_type": "Contact!"}, "record_type"),
    ({"record_id": "abc"}, "record_type"),
    ({"record_type": "contact", "record_id": "a b"}, "record_id"),
    ({"action": "DROP TABLE"}, "action"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-02-30"}, "since"),
    ({"until": "2026-05-01T10:00:00"}, "until"),
    ({"since": "1999-12-31"}, "since"),
    ({"since": "2026-05-03", "until": "2026-05-01"}, "until"),
    ({"person": "user:1"}, "person"),
    ({"limit": "201"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
])
def test_bad_filters_are_refused_with_the_field(auditor, api_app, acme, query, field):
    response = auditor.get("/api/v1/audit-events", query_string=query)
    assert response.status_code == 400, response.get_json()
    error = error_of(response)
    assert field in error["fields"], error
    # A refused request shows nothing, so it records no viewing either.
    assert _events(api_app, acme.id, "audit.viewed") == []


def test_pages_follow_the_cursor_newest_first_without_gaps(api, auditor):
    for n in range(7):
        api.post("/api/v1/contacts", json={"first_name": f"N{n}"})
    page = auditor.get("/api/v1/audit-events", query_string={"action": "crm.contact.created", "limit": 3}).get_json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    everything = _all_pages(auditor, action="crm.contact.created", limit=3)
    ids = [e["id"] for e in everything]
    assert len(ids) == 7 == len(set(ids)) and ids[:3] == [e["id"] for e in page["items"]]
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    # A cursor of another list is not one of this list's.
    contacts_cursor = api.get("/api/v1/contacts", query_string={"limit": 1}).get_json()["next_cursor"]
    refused = auditor.get("/api/v1/audit-events", query_string={"cursor": contacts_cursor})
    assert refused.status_code == 400 and "cursor" in error_of(refused)["fields"]


@pytest.mark.obligation("DPA-B.access-control")
def test_the_trail_needs_the_audit_read_scope(api, http):
    assert api.post("/api/v1/contacts", json={"first_name": "Eva"}).status_code == 201
    for path in ("/api/v1/audit-events", "/api/v1/audit-events/1"):
        refused = api.get(path)  # crm:read crm:write, no audit:read
        assert refused.status_code == 403 and error_of(refused)["code"] == "insufficient_scope"
        anonymous = http.get(path)
        assert anonymous.status_code == 401 and error_of(anonymous)["code"]


@pytest.mark.obligation("DPA-B.access-control", "DPA-B.logging")
def test_another_workspace_events_are_not_found(http, api_app, acme, globex, auditor):
    theirs = Bearer(http, token_for(http, new_client(api_app, globex)))
    contact = theirs.post("/api/v1/contacts", json={"first_name": "Globex person"}).get_json()["id"]
    [event] = _events(api_app, globex.id, "crm.contact.created")
    missing = auditor.get(f"/api/v1/audit-events/{event.id}")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert auditor.get("/api/v1/audit-events/999999999").status_code == 404
    assert auditor.get("/api/v1/audit-events",
                       query_string={"record_type": "contact", "record_id": contact}).get_json()["items"] == []
    seen = _all_pages(auditor)
    assert event.id not in {e["id"] for e in seen}
    # Their own auditor sees it.
    their_auditor = Bearer(http, token_for(http, new_client(api_app, globex, scopes="audit:read", name="SIEM")))
    assert their_auditor.get(f"/api/v1/audit-events/{event.id}").get_json()["target"]["id"] == contact


def test_unknown_parameters_are_refused(auditor):
    response = auditor.get("/api/v1/audit-events", query_string={"q": "Jana"})
    assert response.status_code == 400 and error_of(response)["fields"] == {"q": "Not a filter of this list."}


def test_the_trail_scope_is_offered_for_new_clients(api_app, acme):
    from tenantry.tenants.api import clients
    from tenantry.tenants.api.views import ApiClientForm

    assert "audit:read" in clients.normalise_scopes(["audit:read"])
    with api_app.test_request_context():
        assert "audit:read" in {value for value, _label in ApiClientForm(meta={"csrf": False}).scopes.choices}
