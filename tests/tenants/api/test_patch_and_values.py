"""PATCH that changes nothing writes nothing, values that look alike are stored once, and a
value is never silently split or cut: what a syncing integration needs so that it neither
loops nor fights itself."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests.identity.support import in_app
from tests.tenants.api.conftest import error_of
from tests.tenants.api.test_custom_fields import _define


def _updates(app, action: str) -> int:
    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == action)).scalar_one()


def test_a_patch_that_changes_nothing_keeps_the_version_and_writes_nothing(api, api_app, acme):
    _define(api_app, acme, "shoe_size", "number")
    contact = api.post("/api/v1/contacts", json={"first_name": "Jana", "phone": "+420 601 234 567",
                                                 "custom_fields": {"shoe_size": "38"}})
    company = api.post("/api/v1/companies", json={"name": "Acme"})
    deal = api.post("/api/v1/deals", json={"title": "Renewal", "value": "10.50", "currency": "EUR"})
    actions = ("crm.contact.updated", "crm.company.updated", "crm.deal.updated")
    before = {action: _updates(api_app, action) for action in actions}  # a create's custom values count
    for created, path, same in (
            (contact, "contacts", {"first_name": "Jana", "phone": "601234567", "custom_fields": {"shoe_size": "38.0"}}),
            (company, "companies", {"name": "Acme"}), (deal, "deals", {"value": 10.5, "currency": "eur"})):
        body = created.get_json()
        for patch in ({}, same):
            answer = api.patch(f"/api/v1/{path}/{body['id']}", json=patch, headers={"If-Match": created.headers["ETag"]})
            assert answer.status_code == 200, (path, answer.get_json())
            assert answer.headers["ETag"] == created.headers["ETag"], path
            assert answer.get_json()["changed_at"] == body["changed_at"], path
    assert {action: _updates(api_app, action) for action in actions} == before
    # Each answered the record all the same: a read, audited as one.
    assert [_updates(api_app, f"crm.{kind}.viewed") for kind in ("contact", "company", "deal")] == [2, 2, 2]
    # A real change still is one.
    changed = api.patch(f"/api/v1/contacts/{contact.get_json()['id']}", json={"custom_fields": {"shoe_size": "39"}})
    assert changed.status_code == 200 and changed.headers["ETag"] != contact.headers["ETag"]


def test_a_new_record_is_never_updated_before_it_was_created(api):
    for path, body in (("contacts", {"first_name": "Jana"}), ("companies", {"name": "Acme"})):
        made = api.post(f"/api/v1/{path}", json=body).get_json()
        assert made["created_at"] == made["updated_at"] == made["changed_at"], made


def test_tags_and_e_mails_that_differ_only_in_case_or_accents_are_kept_once(api):
    made = api.post("/api/v1/contacts", json={"first_name": "Jana", "tags": ["VIP", "vip", "Ödön", "odon", " VIP "],
                                              "emails": ["x@Example.com", "X@example.com"]})
    assert made.status_code == 201
    assert made.get_json()["tags"] == ["VIP", "Ödön"] and made.get_json()["emails"] == ["x@example.com"]
    comma = api.post("/api/v1/contacts", json={"first_name": "Jana", "tags": ["a,b"]})
    assert comma.status_code == 422 and error_of(comma)["fields"] == {"tags": "A tag cannot contain a comma."}



def test_one_json_item_is_one_value_never_split_in_two(api):
    for body, field in (({"emails": ["a@example.com, b@example.com"]}, "emails"),
                        ({"email": "a@example.com\nb@example.com"}, "email"),
                        ({"phone": "601234567\n602345678"}, "phone"),
                        ({"phones": ["601234567;602345678"]}, "phones")):
        refused = api.post("/api/v1/contacts", json={"first_name": "Jana", **body})
        assert refused.status_code == 422 and list(error_of(refused)["fields"]) == [field], body
        assert "One " in error_of(refused)["fields"][field]
    assert api.get("/api/v1/contacts").get_json()["items"] == []
    extension = api.post("/api/v1/contacts", json={"first_name": "Jana", "phone": "+1 202-555-0143 x12"})
    assert extension.status_code == 422 and "extension" in error_of(extension)["fields"]["phone"]
    website = api.post("/api/v1/companies", json={"name": "Acme", "website": "example.com/" + "a" * 288})
    assert website.status_code == 422 and "at most 300" in error_of(website)["fields"]["website"]


def test_a_deal_keeps_its_stage_unless_another_is_named(api):
    deal = api.post("/api/v1/deals", json={"title": "Renewal", "value": "-0", "currency": "EUR"})
    assert deal.status_code == 201 and deal.get_json()["value"] == "0"
    stage = deal.get_json()["stage_id"]
    refused = api.patch(f"/api/v1/deals/{deal.get_json()['id']}", json={"stage_id": None})
    assert refused.status_code == 422 and "always in a stage" in error_of(refused)["fields"]["stage_id"]
    assert api.get(f"/api/v1/deals/{deal.get_json()['id']}").get_json()["stage_id"] == stage


def test_a_number_field_refuses_a_tiny_input_that_would_be_a_million_digits(api, api_app, acme):
    _define(api_app, acme, "shoe_size", "number")
    for raw in ("1e-999999", "1e-1000100", "-1e-999999999", "0.00000000001"):
        answer = api.post("/api/v1/contacts", json={"first_name": "Jana", "custom_fields": {"shoe_size": raw}})
        assert answer.status_code == 422, raw
        assert "decimal places" in error_of(answer)["fields"]["custom_fields.shoe_size"], raw
    fine = api.post("/api/v1/contacts?include=custom_fields", json={"first_name": "Jana", "custom_fields": {"shoe_size": "0.0000000001"}})
    assert fine.status_code == 201 and fine.get_json()["custom_fields"]["shoe_size"] == "0.0000000001"
