"""POST /api/v1/contacts and /api/v1/companies with ?on_duplicate=refuse: a record sharing an
e-mail or a phone (contacts) or a company or VAT ID (companies, the IČO inside a Czech VAT ID
included) with one held already is refused 409 `duplicate` naming the held ones, and nothing
is saved; without the parameter the create goes ahead as always; a restricted contact is not
named; a bad value of the parameter is a 400; naming is a listed read."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app
from tests.tenants.api.conftest import error_of

REFUSE = "?on_duplicate=refuse"


def _made(api, resource: str, body: dict, query: str = "") -> dict:
    made = api.post(f"/api/v1/{resource}{query}", json=body)
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def _count(api, resource: str, q: str) -> int:
    return len(api.get(f"/api/v1/{resource}", query_string={"q": q}).get_json()["items"])


def test_a_contact_held_already_is_refused_and_named_when_asked(api, api_app, acme):
    jana = _made(api, "contacts", {"first_name": "Jana", "email": "jana@example.cz"})
    petr = _made(api, "contacts", {"first_name": "Petr", "phone": "+420601234567"})
    twin = {"first_name": "J.", "emails": ["JANA@example.cz"], "phone": "601 234 567"}
    refused = api.post(f"/api/v1/contacts{REFUSE}", json=twin)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "duplicate" and "nothing was saved" in error["message"]
    assert error["fields"] == {"email": "A contact with this e-mail address is in the CRM already.",
                               "phone": "A contact with this phone number is in the CRM already."}
    assert error["duplicates"] == [{"id": jana["id"], "matched_by": ["email"]},
                                   {"id": petr["id"], "matched_by": ["phone"]}]
    assert _count(api, "contacts", "J.") == 0
    with in_app(api_app, commit=False), all_tenants():
        reads = [e for e in db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.tenant_id == acme.id, AuditEvent.action == "crm.contact.listed")) if "duplicates" in e.details]
        assert len(reads) == 1 and reads[0].details["via"] == "api"
        assert sorted(reads[0].details["ids"]) == sorted([jana["id"], petr["id"]])
    # Something new is made at once; without the parameter, a duplicate is made as always.
    _made(api, "contacts", {"first_name": "Eva", "email": "eva@example.cz"}, REFUSE)
    _made(api, "contacts", twin)
    _made(api, "contacts", twin, "?on_duplicate=create")
    assert _count(api, "contacts", "jana@example.cz") == 3


def test_a_restricted_contact_is_not_named(api, api_app, acme):
    hidden = _made(api, "contacts", {"first_name": "Skrytá", "email": "s@example.cz"})
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, uuid.UUID(hidden["id"])).restricted_at = clock.now()
    _made(api, "contacts", {"first_name": "S.", "email": "s@example.cz"}, REFUSE)


def test_a_company_held_already_is_refused_also_by_the_ico_in_its_vat_id(api):
    held = _made(api, "companies", {"name": "Železárny Nový Bor s.r.o.", "vat_id": "CZ25596641"})
    refused = api.post(f"/api/v1/companies{REFUSE}", json={"name": "ŽNB", "company_number": "25596641"})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "duplicate"
    assert error["fields"] == {"company_number": "A company with this company or VAT ID is in the CRM already."}
    assert error["duplicates"] == [{"id": held["id"], "matched_by": ["company_id"]}]
    assert _count(api, "companies", "ŽNB") == 0
    _made(api, "companies", {"name": "Sklárna", "company_number": "27082440"}, REFUSE)


def test_a_bad_on_duplicate_is_a_400_and_bad_values_still_a_422(api):
    bad = api.post("/api/v1/contacts?on_duplicate=maybe", json={"first_name": "Jana"})
    assert bad.status_code == 400
    assert error_of(bad)["fields"] == {"on_duplicate": "Choose create or refuse."}
    invalid = api.post(f"/api/v1/contacts{REFUSE}", json={"first_name": "Jana", "email": "not-an-address"})
    assert invalid.status_code == 422 and "email" in error_of(invalid)["fields"]


def test_the_openapi_document_describes_the_parameter(http):
    document = http.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/contacts", "/api/v1/companies"):
        post = document["paths"][path]["post"]
        assert "on_duplicate" in [p["name"] for p in post["parameters"]] and "409" in post["responses"]
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert "duplicates" in error["properties"] and "duplicates" not in error["required"]
