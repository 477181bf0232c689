"""Merging through the API (POST /api/v1/contacts/<id>/merge, /api/v1/companies/<id>/merge,
/api/v1/deals/<id>/merge): the record in the path is kept with the other's values, links and
activities, the other is gone; If-Match and other_etag guard both; every kind of bad request
is a 4xx with nothing merged; a restricted contact or an open data subject request refuses it (and a company holding a restricted contact is not deleted either);
another workspace's ids are not found; the OpenAPI document describes every merge route."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm.models import Contact
from tenantry.tenants.subject_requests import finder
from tenantry.tenants.subject_requests import service as subject_requests
from tests.identity.support import in_app
from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for


def _made(api, resource: str, body: dict) -> dict:
    made = api.post(f"/api/v1/{resource}", json=body)
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def test_two_contacts_merge_into_the_one_in_the_path(api):
    keep = _made(api, "contacts", {"first_name": "Jana", "last_name": "Nováková", "email": "jana@example.cz",
                                   "notes": "Met at the fair", "tags": ["VIP"]})
    other = _made(api, "contacts", {"last_name": "Nováková", "emails": ["jana@example.cz", "jana.n@firma.cz"],
                                    "phone": "+420601234567", "position": "CFO", "notes": "Prefers e-mail",
                                    "tags": ["vip", "Newsletter"]})
    call = _made(api, "activities", {"kind": "call", "contact_id": other["id"]})
    merged = api.post(f"/api/v1/contacts/{keep['id']}/merge", json={"other_id": other["id"], "other_etag": '"1"'},
                      headers={"If-Match": '"1"'})
    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert body["id"] == keep["id"] and merged.headers["ETag"] == '"2"'
    assert body["emails"] == ["jana@example.cz", "jana.n@firma.cz"] and body["phones"] == ["+420601234567"]
    assert (body["first_name"], body["position"], body["tags"]) == ("Jana", "CFO", ["VIP", "Newsletter"])
    assert body["notes"] == "Met at the fair\n\nPrefers e-mail"
    assert api.get(f"/api/v1/contacts/{other['id']}").status_code == 404
    assert api.get(f"/api/v1/activities/{call['id']}").get_json()["contact_id"] == keep["id"]
    found = api.get("/api/v1/contacts", query_string={"q": "jana.n@firma.cz"}).get_json()["items"]
    assert [c["id"] for c in found] == [keep["id"]]


def test_two_companies_merge_and_the_other_s_contacts_move(api, api_app):
    keep = _made(api, "companies", {"name": "Železárny Nový Bor s.r.o.", "company_number": "25596641"})
    other = _made(api, "companies", {"name": "ŽNB", "company_number": "25596641", "vat_id": "CZ25596641",
                                     "notes": "Pays late"})
    jana = _made(api, "contacts", {"first_name": "Jana", "company_id": other["id"]})
    merged = api.post(f"/api/v1/companies/{keep['id']}/merge", json={"other_id": other["id"]})
    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert (body["name"], body["vat_id"], body["notes"]) == ("Železárny Nový Bor s.r.o.", "CZ25596641", "Pays late")
    assert api.get(f"/api/v1/companies/{other['id']}").status_code == 404
    assert api.get(f"/api/v1/contacts/{jana['id']}").get_json()["company_id"] == keep["id"]
    with in_app(api_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.company.merged")).one()
        assert event.actor_type == "api_client" and event.details["contacts_moved"] == 1


def test_two_deals_merge_and_the_other_s_activities_move(api, api_app):
    stage_id = api.get("/api/v1/stages").get_json()["items"][0]["id"]
    jana = _made(api, "contacts", {"first_name": "Jana"})
    keep = _made(api, "deals", {"title": "Okna", "value": "125000", "currency": "CZK", "stage_id": stage_id})
    other = _made(api, "deals", {"title": "Okna", "value": "90000", "currency": "CZK", "stage_id": stage_id,
                                 "contact_id": jana["id"], "expected_close": "2027-03-31"})
    call = _made(api, "activities", {"kind": "call", "deal_id": other["id"]})
    merged = api.post(f"/api/v1/deals/{keep['id']}/merge", json={"other_id": other["id"], "other_etag": '"1"'},
                      headers={"If-Match": '"1"'})
    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert (body["value"], body["contact_id"], body["expected_close"]) == ("125000", jana["id"], "2027-03-31")
    assert merged.headers["ETag"] == '"2"'
    assert api.get(f"/api/v1/deals/{other['id']}").status_code == 404
    assert api.get(f"/api/v1/activities/{call['id']}").get_json()["deal_id"] == keep["id"]
    same = api.post(f"/api/v1/deals/{keep['id']}/merge", json={"other_id": keep["id"]})
    assert same.status_code == 422 and error_of(same)["fields"] == {"other_id": "Name another of this workspace's "
                                                                                 "deals than the one kept."}
    with in_app(api_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.deal.merged")).one()
        assert event.actor_type == "api_client" and event.details["activities_moved"] == 1


@pytest.mark.parametrize(("body", "headers", "status", "code", "field"), [
    ({}, {}, 422, "validation_failed", "other_id"),
    ({"other_id": "not-an-id"}, {}, 422, "validation_failed", "other_id"),
    ({"other_id": "7e0c9f4e-0000-4000-8000-000000000000"}, {}, 422, "validation_failed", "other_id"),
    ({"other_id": "KEEP"}, {}, 422, "validation_failed", "other_id"),
    ({"other_id": 5}, {}, 400, "wrong_type", "other_id"),
    ({"other_id": "OTHER", "keep": True}, {}, 400, "unknown_field", "keep"),
    ({"other_id": "OTHER"}, {"If-Match": '"9"'}, 412, "precondition_failed", None),
    ({"other_id": "OTHER", "other_etag": '"9"'}, {}, 412, "precondition_failed", "other_etag"),
    ({"other_id": "OTHER"}, {"If-Match": "3"}, 400, "invalid_if_match", "If-Match"),
])
def test_a_bad_merge_request_is_a_4xx_and_merges_nothing(api, body, headers, status, code, field):
    keep = _made(api, "contacts", {"first_name": "Jana"})
    other = _made(api, "contacts", {"first_name": "Eva"})
    sent = {k: {"KEEP": keep["id"], "OTHER": other["id"]}.get(v, v) if isinstance(v, str) else v
            for k, v in body.items()}
    refused = api.post(f"/api/v1/contacts/{keep['id']}/merge", json=sent, headers=headers)
    assert refused.status_code == status
    error = error_of(refused)
    assert error["code"] == code
    assert field is None or field in error["fields"]
    assert api.get(f"/api/v1/contacts/{other['id']}").status_code == 200
    assert api.get(f"/api/v1/contacts/{keep['id']}").headers["ETag"] == '"1"'


def test_a_restricted_contact_or_an_open_request_refuses_the_merge(api, api_app, acme):
    keep = _made(api, "contacts", {"first_name": "Jana"})
    other = _made(api, "contacts", {"first_name": "Eva", "email": "eva@example.cz"})
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        subject_requests.open_request("access", finder.Terms(email="eva@example.cz"), actor=None)
    refused = api.post(f"/api/v1/contacts/{keep['id']}/merge", json={"other_id": other["id"]})
    assert refused.status_code == 409 and error_of(refused)["code"] == "merge_refused"
    assert "A data subject request about this contact is open" in error_of(refused)["message"]
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, uuid.UUID(keep["id"])).restricted_at = clock.now()
    for path, named in ((keep["id"], other["id"]), (other["id"], keep["id"])):
        blocked = api.post(f"/api/v1/contacts/{path}/merge", json={"other_id": named})
        assert blocked.status_code == 409 and error_of(blocked)["code"] == "restricted"
    assert api.get(f"/api/v1/contacts/{other['id']}").status_code == 200


def test_another_workspace_s_ids_are_not_found_and_read_only_clients_cannot_merge(api, api_app, http, globex):
    keep = _made(api, "contacts", {"first_name": "Jana"})
    theirs = Bearer(http, token_for(http, new_client(api_app, globex)))
    stranger = _made(theirs, "contacts", {"first_name": "Eva"})
    named = api.post(f"/api/v1/contacts/{keep['id']}/merge", json={"other_id": stranger["id"]})
    assert named.status_code == 422 and "other_id" in error_of(named)["fields"]
    path = theirs.post(f"/api/v1/contacts/{keep['id']}/merge", json={"other_id": stranger["id"]})
    assert path.status_code == 404
    assert theirs.get(f"/api/v1/contacts/{stranger['id']}").status_code == 200
    reader = Bearer(http, token_for(http, new_client(api_app, globex, scopes="crm:read", name="Reader")))
    assert reader.post(f"/api/v1/contacts/{stranger['id']}/merge", json={"other_id": keep["id"]}).status_code == 403


def test_the_merge_routes_are_in_the_openapi_document(http):
    paths = http.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/contacts/{contact_id}/merge", "/api/v1/companies/{company_id}/merge",
                 "/api/v1/deals/{deal_id}/merge"):
        op = paths[path]["post"]
        assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/MergeInput"}
        assert {p["name"] for p in op["parameters"]} >= {"If-Match"}
        assert {"200", "409", "412", "422"} <= set(op["responses"])
        assert "ETag" in op["responses"]["200"]["headers"]


@pytest.mark.obligation("DSR-restrict")
def test_a_company_with_a_restricted_contact_is_not_deleted(api, api_app, acme):
    company = _made(api, "companies", {"name": "Sklárna", "country": "CZ"})
    jana = _made(api, "contacts", {"first_name": "Jana", "company_id": company["id"]})
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, uuid.UUID(jana["id"])).restricted_at = clock.now()
    refused = api.delete(f"/api/v1/companies/{company['id']}")
    assert refused.status_code == 409 and error_of(refused)["code"] == "restricted"
    assert "1 contact of this company is restricted" in error_of(refused)["message"]
    assert api.get(f"/api/v1/companies/{company['id']}").status_code == 200
    with in_app(api_app, commit=False), all_tenants():
        held = db.session.get(Contact, uuid.UUID(jana["id"]))
        assert (str(held.company_id), held.version) == (company["id"], 2)  # as the restriction left her
        assert not db.session.execute(sa.select(AuditEvent.id).where(
            AuditEvent.action == "crm.company.deleted")).first()
