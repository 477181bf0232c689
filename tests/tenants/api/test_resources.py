"""/api/v1 companies, deals and activities: the UI's validation over JSON, references that
must belong to the workspace, and pages."""

from __future__ import annotations

import pytest

from tests.tenants.api.conftest import error_of

VALID_ICO = "25596641"
VALID_IBAN = "CZ65 0800 0000 1920 0014 5399"


def test_companies_are_created_with_checked_ids_and_found_by_them(api):
    created = api.post("/api/v1/companies", json={"name": "Železárny s.r.o.", "company_number": "2559 6641",
                                                  "vat_id": "cz" + VALID_ICO, "iban": VALID_IBAN.replace(" ", ""),
                                                  "website": "example.cz"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["country"] == "CZ" and body["company_number"] == VALID_ICO and body["vat_id"] == "CZ" + VALID_ICO
    assert body["iban"] == VALID_IBAN and body["website"] == "https://example.cz" and body["notes"] is None
    assert [c["id"] for c in api.get("/api/v1/companies", query_string={"q": VALID_ICO}).get_json()["items"]] == [
        body["id"]]
    assert [c["id"] for c in api.get("/api/v1/companies", query_string={"q": "zelezarny"}).get_json()["items"]] == [
        body["id"]]
    patched = api.patch(f"/api/v1/companies/{body['id']}", json={"notes": "Supplier", "website": None})
    assert patched.status_code == 200
    assert patched.get_json()["notes"] == "Supplier" and patched.get_json()["website"] is None
    assert patched.get_json()["iban"] == VALID_IBAN
    assert api.delete(f"/api/v1/companies/{body['id']}").status_code == 204
    assert api.get(f"/api/v1/companies/{body['id']}").status_code == 404


@pytest.mark.parametrize(("payload", "field"), [
    ({"company_number": VALID_ICO}, "name"),
    ({"name": "X", "company_number": "25596642"}, "company_number"),
    ({"name": "X", "iban": "CZ65 0800 0000 1920 0014 5398"}, "iban"),
    ({"name": "X", "vat_id": "CZ25596642"}, "vat_id"),
    ({"name": "X", "website": "not a site"}, "website"),
    ({"name": "X", "country": "XX"}, "country"),
    ({"name": "X" * 301}, "name"),
])
def test_bad_company_values_are_refused(api, payload, field):
    response = api.post("/api/v1/companies", json=payload)
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"]
    assert api.get("/api/v1/companies").get_json()["items"] == []


def test_deals_with_money_stages_and_links(api, api_app, acme):
    contact = api.post("/api/v1/contacts", json={"first_name": "Jana"}).get_json()["id"]
    created = api.post("/api/v1/deals", json={"title": "Renewal", "value": 12500.5, "currency": "eur",
                                              "expected_close": "2026-09-30", "contact_id": contact,
                                              "owner_id": str(acme.owner.id)})
    assert created.status_code == 201, created.get_json()
    deal = created.get_json()
    assert deal["value"] == "12500.5" and deal["currency"] == "EUR" and deal["expected_close"] == "2026-09-30"
    assert deal["contact_id"] == contact and deal["stage_id"] and deal["owner_id"] == str(acme.owner.id)
    moved = api.patch(f"/api/v1/deals/{deal['id']}", json={"value": "99.99", "expected_close": None})
    assert moved.status_code == 200 and moved.get_json()["value"] == "99.99"
    assert moved.get_json()["expected_close"] is None and moved.get_json()["title"] == "Renewal"
    listed = api.get("/api/v1/deals", query_string={"stage_id": deal["stage_id"]}).get_json()
    assert [d["id"] for d in listed["items"]] == [deal["id"]] and listed["next_cursor"] is None
    for q, found in (("renewal", [deal["id"]]), ("Jana", [deal["id"]]), ("Renewal Jana", []), ("other", [])):
        assert [d["id"] for d in api.get("/api/v1/deals", query_string={"q": q}).get_json()["items"]] == found, q
    assert api.delete(f"/api/v1/deals/{deal['id']}").status_code == 204


NOBODY = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(("payload", "field"), [
    ({"value": "10", "currency": "EUR"}, "title"),
    ({"title": "T", "value": "10", "currency": "EURO"}, "currency"),
    ({"title": "T", "value": "10", "currency": "XYZ"}, "currency"),
    ({"title": "T", "value": "ten", "currency": "EUR"}, "value"),
    ({"title": "T", "value": "10.001", "currency": "EUR"}, "value"),
    ({"title": "T", "value": "10.5", "currency": "JPY"}, "value"),
    ({"title": "T", "value": -5, "currency": "EUR"}, "value"),
    ({"title": "T", "value": "NaN", "currency": "EUR"}, "value"),
    ({"title": "T", "value": "10", "currency": "EUR", "expected_close": "30.9.2026"}, "expected_close"),
    ({"title": "T", "value": "10", "currency": "EUR", "stage_id": NOBODY}, "stage_id"),
    ({"title": "T", "value": "10", "currency": "EUR", "stage_id": "lead"}, "stage_id"),
    ({"title": "T", "value": "10", "currency": "EUR", "contact_id": NOBODY}, "contact_id"),
    ({"title": "T", "value": "10", "currency": "EUR", "company_id": NOBODY}, "company_id"),
    ({"title": "T", "value": "10", "currency": "EUR", "owner_id": NOBODY}, "owner_id"),
])
def test_bad_deal_values_are_refused(api, payload, field):
    response = api.post("/api/v1/deals", json=payload)
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    assert api.get("/api/v1/deals").get_json()["items"] == []


def test_a_deal_value_of_the_wrong_type_is_400(api):
    response = api.post("/api/v1/deals", json={"title": "T", "value": True, "currency": "EUR"})
    assert response.status_code == 400 and error_of(response)["fields"] == {"value": "Expected a string or a number or null."}


def test_activities_on_a_subject_done_and_changed(api):
    company = api.post("/api/v1/companies", json={"name": "Acme"}).get_json()["id"]
    created = api.post("/api/v1/activities", json={"kind": "call", "due_on": "2026-07-01", "note": "Ring them",
                                                   "company_id": company})
    assert created.status_code == 201, created.get_json()
    activity = created.get_json()
    assert activity["company_id"] == company and activity["done"] is False and activity["note"] == "Ring them"
    done = api.patch(f"/api/v1/activities/{activity['id']}", json={"done": True, "note": "Rang them"})
    assert done.status_code == 200
    assert done.get_json()["done"] is True and done.get_json()["done_at"] and done.get_json()["note"] == "Rang them"
    assert done.get_json()["kind"] == "call" and done.get_json()["due_on"] == "2026-07-01"
    moved = api.patch(f"/api/v1/activities/{activity['id']}", json={"deal_id": NOBODY})
    assert moved.status_code == 422 and "deal_id" in error_of(moved)["fields"]
    of_company = api.get("/api/v1/activities", query_string={"company_id": company}).get_json()["items"]
    assert [a["id"] for a in of_company] == [activity["id"]]
    assert api.delete(f"/api/v1/activities/{activity['id']}").status_code == 204
    assert api.get(f"/api/v1/activities/{activity['id']}").status_code == 404


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"kind": "call"}, 422, "contact_id"),
    ({"note": "x", "contact_id": NOBODY}, 422, "kind"),
    ({"kind": "lunch", "contact_id": NOBODY}, 422, "kind"),
    ({"kind": "call", "contact_id": NOBODY}, 422, "contact_id"),
    ({"kind": "call", "contact_id": "x"}, 422, "contact_id"),
    ({"kind": "call", "due_on": "tomorrow", "contact_id": NOBODY}, 422, "due_on"),
    ({"kind": "call", "done": "yes", "contact_id": NOBODY}, 400, "done"),
])
def test_bad_activities_are_refused(api, payload, status, field):
    response = api.post("/api/v1/activities", json=payload)
    assert response.status_code == status, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    assert api.get("/api/v1/activities").get_json()["items"] == []


def test_an_activity_names_exactly_one_subject(api):
    contact = api.post("/api/v1/contacts", json={"first_name": "Jana"}).get_json()["id"]
    company = api.post("/api/v1/companies", json={"name": "Acme"}).get_json()["id"]
    both = api.post("/api/v1/activities", json={"kind": "task", "contact_id": contact, "company_id": company})
    assert both.status_code == 422 and set(error_of(both)["fields"]) == {"contact_id", "company_id"}
