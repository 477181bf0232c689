"""/api/v1/contacts: CRUD with the UI's validation, every kind of bad input, cursor pages,
search, another tenant's ids, read events in the audit trail, and no plaintext at rest."""

from __future__ import annotations

import secrets
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts, index_builds
from tests.identity.support import in_app
from tests.platform.crypto.test_storage_canary import _raw_database_text
from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for

JANA = {"first_name": "Jana", "last_name": "Nováková", "email": "Jana.Novakova@Example.com",
        "phones": ["+420 601 234 567"], "address": "Dlouhá 1, Praha", "position": "CFO",
        "notes": "Met at the fair", "tags": ["vip", "fair"]}


def _count(app, tenant_id) -> int:
    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant_id)):
        return contacts.count(tenant_id)


def _company(api, name="Acme s.r.o.") -> str:
    response = api.post("/api/v1/companies", json={"name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.mark.obligation("DPA-B.access-control")
def test_create_read_change_and_delete_a_contact(api, api_app, acme):
    company_id = _company(api)
    created = api.post("/api/v1/contacts", json={**JANA, "company_id": company_id})
    assert created.status_code == 201
    body = created.get_json()
    assert body["email"] == "Jana.Novakova@example.com" and body["emails"] == ["Jana.Novakova@example.com"]
    assert body["phone"] == "+420601234567" and body["phones"] == ["+420601234567"]
    assert body["company_id"] == company_id and body["tags"] == ["vip", "fair"]
    assert body["first_name"] == "Jana" and body["created_at"] and body["updated_at"]
    contact_id = body["id"]
    assert api.get(f"/api/v1/contacts/{contact_id}").get_json() == body

    changed = api.patch(f"/api/v1/contacts/{contact_id}", json={"email": "jana@novak.cz", "company_id": None,
                                                                  "phone": "731 555 019"})
    assert changed.status_code == 200
    after = changed.get_json()
    # The new primary goes first; the old ones stay after it; untouched fields keep their values.
    assert after["emails"] == ["jana@novak.cz"] and after["company_id"] is None
    assert after["phones"] == ["+420731555019"] and after["last_name"] == "Nováková" and after["tags"] == ["vip", "fair"]
    also = api.patch(f"/api/v1/contacts/{contact_id}", json={"emails": ["a@example.com", "b@example.com"]})
    assert also.get_json()["email"] == "a@example.com"

    assert api.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    assert api.get(f"/api/v1/contacts/{contact_id}").status_code == 404
    with in_app(api_app, commit=False):
        rows = db.session.execute(sa.select(AuditEvent.action, AuditEvent.actor_type).where(
            AuditEvent.target_id == contact_id)).all()
    actions = {action for action, _ in rows}
    assert {"crm.contact.created", "crm.contact.updated", "crm.contact.viewed", "crm.contact.deleted"} <= actions
    assert {actor for _, actor in rows} == {"api_client"}


@pytest.mark.parametrize(("payload", "field", "status", "code"), [
    ({"first_name": "J", "email": "not-an-email"}, "email", 422, "validation_failed"),
    ({"first_name": "J", "emails": ["ok@example.com", "bad@"]}, "emails", 422, "validation_failed"),
    ({"first_name": "J", "phone": "12"}, "phone", 422, "validation_failed"),
    ({"first_name": "J", "company_id": "not-a-uuid"}, "company_id", 422, "validation_failed"),
    ({"first_name": "J", "company_id": "00000000-0000-4000-8000-000000000000"}, "company_id", 422,
     "validation_failed"),
    ({"notes": "no name"}, "last_name", 422, "validation_failed"),
    ({"first_name": "J" * 201}, "first_name", 422, "validation_failed"),
    ({"first_name": "J\x00"}, "first_name", 422, "validation_failed"),
    ({"first_name": "J", "nickname": "x"}, "nickname", 400, "unknown_field"),
    ({"first_name": 12}, "first_name", 400, "wrong_type"),
    ({"first_name": "J", "tags": "vip"}, "tags", 400, "wrong_type"),
    ({"first_name": "J", "emails": [1]}, "emails", 400, "wrong_type"),
])
def test_bad_values_are_refused_next_to_their_field_and_nothing_is_written(api, api_app, acme, payload, field,
                                                                           status, code):
    response = api.post("/api/v1/contacts", json=payload)
    assert response.status_code == status, response.get_json()
    error = error_of(response)
    assert error["code"] == code and field in error["fields"] and error["message"]
    assert _count(api_app, acme.id) == 0


def test_malformed_bodies_are_refused(api, api_app, acme):
    wrong_type = api.post("/api/v1/contacts", data="first_name=Jana",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415 and error_of(wrong_type)["code"] == "unsupported_media_type"
    broken = api.post("/api/v1/contacts", data='{"first_name": "Ja', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and error_of(broken)["code"] == "invalid_json"
    a_list = api.post("/api/v1/contacts", json=[{"first_name": "Jana"}])
    assert a_list.status_code == 400 and error_of(a_list)["code"] == "invalid_json"
    # Deeper than the JSON parser's stack: a RecursionError, not the ValueError of broken JSON.
    nested = api.post("/api/v1/contacts", data='{"a":' * 5000 + "1" + "}" * 5000,
                      headers={"Content-Type": "application/json"})
    assert nested.status_code == 400 and error_of(nested)["code"] == "invalid_json"
    assert _count(api_app, acme.id) == 0
    put = api.http.put("/api/v1/contacts", json={}, headers={"Authorization": f"Bearer {api.token}"})
    assert put.status_code == 405 and error_of(put)["code"] == "method_not_allowed"
    not_an_id = api.get("/api/v1/contacts/123")
    assert not_an_id.status_code == 404 and error_of(not_an_id)["code"] == "not_found"


def test_a_blank_company_id_means_no_company(api):
    # Whitespace stops the form's validators (Optional), so it must also read as no company.
    created = api.post("/api/v1/contacts", json={"first_name": "Jana", "company_id": " "})
    assert created.status_code == 201 and created.get_json()["company_id"] is None
    changed = api.patch(f"/api/v1/contacts/{created.get_json()['id']}", json={"company_id": "\t"})
    assert changed.status_code == 200 and changed.get_json()["company_id"] is None


def test_a_bad_patch_changes_nothing(api):
    contact_id = api.post("/api/v1/contacts", json=JANA).get_json()["id"]
    before = api.get(f"/api/v1/contacts/{contact_id}").get_json()
    refused = api.patch(f"/api/v1/contacts/{contact_id}", json={"first_name": "Eva", "email": "nope"})
    assert refused.status_code == 422 and "email" in error_of(refused)["fields"]
    assert api.get(f"/api/v1/contacts/{contact_id}").get_json() == before


@pytest.mark.obligation("DPA-B.access-control")
def test_a_token_acts_for_its_own_tenant_only(http, api_app, acme, globex):
    ours = Bearer(http, token_for(http, new_client(api_app, acme)))
    theirs = Bearer(http, token_for(http, new_client(api_app, globex)))
    contact_id = theirs.post("/api/v1/contacts", json=JANA).get_json()["id"]
    company_id = theirs.post("/api/v1/companies", json={"name": "Globex"}).get_json()["id"]
    for method in ("get", "patch", "delete"):
        response = getattr(ours, method)(f"/api/v1/contacts/{contact_id}", **({"json": {}} if method == "patch" else {}))
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert ours.get("/api/v1/contacts").get_json() == {"items": [], "next_cursor": None}
    assert ours.get("/api/v1/contacts", query_string={"q": "jana.novakova@example.com"}).get_json()["items"] == []
    # Pointing at another tenant's company is an unknown company, not a link across tenants.
    linked = ours.post("/api/v1/contacts", json={"first_name": "Eva", "company_id": company_id})
    assert linked.status_code == 422 and "company_id" in error_of(linked)["fields"]
    assert theirs.get(f"/api/v1/contacts/{contact_id}").status_code == 200
    assert _count(api_app, acme.id) == 0


def test_pages_walk_120_contacts_without_duplicates_or_gaps(api, api_app, acme, time_machine):
    time_machine.move_to("2026-06-01T09:00:00Z", tick=False)
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        made = set()
        for i in range(120):
            # Groups of three share a timestamp: the id breaks the tie.
            if i % 3 == 0:
                time_machine.shift(timedelta(seconds=1))
            made.add(str(contacts.create(contacts.ContactData(first_name=f"P{i}")).id))
    api = Bearer(api.http, token_for(api.http, new_client(api_app, acme, "crm:read")))
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get("/api/v1/contacts", query_string={"limit": 50, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        page = response.get_json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 120 and set(seen) == made
    default = api.get("/api/v1/contacts").get_json()
    assert len(default["items"]) == 50 and default["next_cursor"]
    assert len(api.get("/api/v1/contacts", query_string={"limit": 200}).get_json()["items"]) == 120


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5"])
def test_a_bad_limit_is_400(api, limit):
    response = api.get("/api/v1/contacts", query_string={"limit": limit})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_limit"


def test_a_tampered_cursor_is_400(api, api_app, acme):
    for name in ("A", "B", "C"):
        api.post("/api/v1/contacts", json={"first_name": name})
    cursor = api.get("/api/v1/contacts", query_string={"limit": 1}).get_json()["next_cursor"]
    assert cursor
    for bad in (cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), "garbage", cursor + "x"):
        response = api.get("/api/v1/contacts", query_string={"cursor": bad})
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_cursor"
    # A cursor of one list is not accepted by another.
    other = api.get("/api/v1/companies", query_string={"cursor": cursor})
    assert other.status_code == 400 and error_of(other)["code"] == "invalid_cursor"


def test_search_finds_by_email_phone_and_any_word_of_the_name(api):
    jana = api.post("/api/v1/contacts", json=JANA).get_json()["id"]
    api.post("/api/v1/contacts", json={"first_name": "Petr", "last_name": "Svoboda", "email": "petr@example.com"})

    def found(q):
        response = api.get("/api/v1/contacts", query_string={"q": q})
        assert response.status_code == 200
        return [item["id"] for item in response.get_json()["items"]]

    assert found("jana.novakova@example.com") == [jana]
    assert found("601 234 567") == [jana]
    assert found("+420601234567") == [jana]
    assert found("novakova") == [jana]
    assert found("JANA") == [jana]
    assert found("nobody@example.com") == []
    assert found("JANA.NOVAKOVA@EXAMPLE.COM") == [jana]  # a whole address: only the e-mail is asked
    assert found("jana@") == [jana]  # not a whole address: still tried as the words of a name
    assert len(found("")) == 2
    too_long = api.get("/api/v1/contacts", query_string={"q": "x" * 201})
    assert too_long.status_code == 400


@pytest.mark.obligation("DPA-B.monitoring", "DPA-B.logging")
def test_every_read_is_recorded_with_the_client_and_the_ids_returned(http, api_app, acme):
    creds = new_client(api_app, acme, "crm:read crm:write")
    api = Bearer(http, token_for(http, creds))
    ids = [api.post("/api/v1/contacts", json={"first_name": n}).get_json()["id"] for n in ("A", "B")]
    api.get("/api/v1/contacts")
    api.get(f"/api/v1/contacts/{ids[0]}")
    api.get("/api/v1/contacts", query_string={"q": "A"})
    with in_app(api_app, commit=False):
        events = db.session.execute(sa.select(AuditEvent).where(
            AuditEvent.action.in_(["crm.contact.listed", "crm.contact.viewed"])).order_by(AuditEvent.id)).scalars().all()
        got = [(e.action, e.actor_type, e.actor_id, sorted(e.details["ids"]), e.details.get("search")) for e in events]
        # The search text itself (possibly an e-mail) is not kept in the trail.
        assert all(set(e.details) <= {"ids", "via", "search"} and e.details["via"] == "api" for e in events)
    client_pk = str(creds.pk)
    assert got == [("crm.contact.listed", "api_client", client_pk, sorted(ids), None),
                   ("crm.contact.viewed", "api_client", client_pk, [ids[0]], None),
                   ("crm.contact.listed", "api_client", client_pk, [ids[0]], True)]


@pytest.mark.obligation("TT-aes256", "DPA-B.pseudonymisation")
def test_a_canary_written_through_the_api_is_absent_from_the_raw_database(api, api_app, acme, database):
    canary = "Canary" + secrets.token_hex(6)
    company = api.post("/api/v1/companies", json={"name": f"{canary} Holding", "notes": f"{canary} notes",
                                                  "iban": "CZ65 0800 0000 1920 0014 5399"})
    assert company.status_code == 201
    created = api.post("/api/v1/contacts", json={
        "first_name": canary, "last_name": f"{canary}ová", "email": f"{canary.lower()}@example.com",
        "phone": "+420 731 555 019", "address": f"{canary} 12", "position": f"{canary} lead",
        "notes": f"{canary} note", "tags": [f"{canary}-tag"], "company_id": company.get_json()["id"]})
    assert created.status_code == 201
    deal = api.post("/api/v1/deals", json={"title": f"{canary} renewal", "value": "100", "currency": "EUR",
                                           "contact_id": created.get_json()["id"]})
    assert deal.status_code == 201
    activity = api.post("/api/v1/activities", json={"kind": "call", "note": f"{canary} called",
                                                    "deal_id": deal.get_json()["id"]})
    assert activity.status_code == 201
    found = api.get("/api/v1/contacts", query_string={"q": canary}).get_json()["items"]
    assert [c["first_name"] for c in found] == [canary]
    with in_app(api_app, commit=False):
        db.session.remove()
    raw = _raw_database_text(database)
    assert b"acme" in raw, "the raw read does not see plaintext: the check would prove nothing"
    for needle in (canary, canary.lower(), "+420731555019", "CZ6508000000192000145399"):
        assert needle.encode() not in raw, needle
        assert needle.encode().hex().encode() not in raw, needle


def test_contacts_of_one_company_can_be_listed(api):
    company_id = _company(api)
    mine = api.post("/api/v1/contacts", json={"first_name": "In", "company_id": company_id}).get_json()["id"]
    api.post("/api/v1/contacts", json={"first_name": "Out"})
    listed = api.get("/api/v1/contacts", query_string={"company_id": company_id}).get_json()["items"]
    assert [c["id"] for c in listed] == [mine]
    assert api.get("/api/v1/contacts", query_string={"company_id": "nope"}).status_code == 422



def test_a_read_asks_the_database_for_the_token_and_the_row_and_writes_its_event(api, api_app, acme,
                                                                                  monkeypatch):
    """What a detail read costs in statements (bench/crm.py, issue 3): the token check brings
    the client, tenant and the tenant's keys; then the contact; then its audit event."""
    created = api.post("/api/v1/contacts", json={"first_name": "Jana", "email": "jana@example.com"})
    assert created.status_code == 201
    statements: list[str] = []

    def watch(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()[:4]))

    # The contact's row is read by a statement given to psycopg directly on PostgreSQL
    # (contact_reads), which SQLAlchemy's events do not see.
    driver_execute = psycopg.Connection.execute

    def driver_watch(conn, query, *args, **kwargs):
        if isinstance(query, str):
            statements.append(" ".join(query.split()))
        return driver_execute(conn, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", driver_watch)

    with api_app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", watch)
    try:
        got = api.get(f"/api/v1/contacts/{created.get_json()['id']}")
    finally:
        sa.event.remove(engine, "before_cursor_execute", watch)
    assert got.status_code == 200 and got.get_json()["email"] == "jana@example.com"
    assert not [s for s in statements if "tenant_keys" in s], statements
    assert len([s for s in statements if "api_tokens" in s]) == 1, statements
    assert len([s for s in statements if "FROM contacts" in s or "contacts.id" in s]) == 1, statements


def test_a_read_views_commit_expires_nothing_and_leaves_the_session_as_it_was(api_app, acme, monkeypatch):
    from tenantry.tenants.api.common import commit_read

    with in_app(api_app, commit=False):
        tenant = db.session.get(Tenant, acme.id)
        commit_read()
        assert "name" in sa.inspect(tenant).dict  # loaded, not expired: the body was built from it
        assert db.session().expire_on_commit is True
        db.session.commit()
        assert "name" not in sa.inspect(tenant).dict  # every other commit expires as before

        def refuse():
            raise RuntimeError("the database went away")

        monkeypatch.setattr(db.session(), "commit", refuse)
        with pytest.raises(RuntimeError, match="went away"):
            commit_read()
        assert db.session().expire_on_commit is True


@pytest.mark.obligation("DPA-B.pseudonymisation")
def test_list_contacts_by_a_whole_tag(api, api_app, acme, http):
    for first, tags in (("Jana", ["VIP client", "fair"]), ("Petr", ["vip"]), ("Karel", [])):
        assert api.post("/api/v1/contacts", json={"first_name": first, "tags": tags}).status_code == 201
    with in_app(api_app):
        index_builds.rebuild(db.session.get(Tenant, acme.id))

    def tagged(tag: str) -> list[str]:
        response = api.get("/api/v1/contacts", query_string={"tag": tag})
        assert response.status_code == 200, response.get_json()
        return sorted(c["first_name"] for c in response.get_json()["items"])

    assert tagged("víp   Client") == ["Jana"] and tagged("VIP") == ["Petr"] and tagged("vi") == []
    assert tagged("") == ["Jana", "Karel", "Petr"]
    both = api.get("/api/v1/contacts", query_string={"tag": "fair", "q": "petr"}).get_json()["items"]
    assert both == []
    too_long = api.get("/api/v1/contacts", query_string={"tag": "x" * 101})
    assert too_long.status_code == 400
    assert error_of(too_long)["code"] == "invalid_tag" and error_of(too_long)["fields"] == {"tag": "Too long."}
    refused = api.post("/api/v1/contacts", json={"first_name": "Long", "tags": ["y" * 101]})
    assert refused.status_code == 422 and "tags" in error_of(refused)["fields"]
    document = http.get("/api/v1/openapi.json").get_json()
    parameters = document["paths"]["/api/v1/contacts"]["get"]["parameters"]
    assert {"name": "tag", "in": "query"}.items() <= next(p for p in parameters if p["name"] == "tag").items()
