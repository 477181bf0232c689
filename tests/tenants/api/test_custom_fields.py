"""A contact's custom fields on the API: the definitions listed, values written with the
contact (validated as the contact form validates them, every error in one 422, nothing
half-written), read with ?include=custom_fields, audited from and to when they change, and
a special-category field taking values only under an explicit agreement [DPA-A.special]."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from tenantry.dpa import special_categories
from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.api.custom_fields import NOT_TAKING
from tenantry.tenants.crm import contacts, custom_fields
from tenantry.tenants.crm.custom_fields import CustomValue
from tests import factories
from tests.identity.support import in_app
from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for

JANA = {"first_name": "Jana", "last_name": "Nováková", "email": "jana@example.com"}


def _define(app, tenant, key, type_, *, options=(), required=False, special=False) -> None:
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        custom_fields.create(custom_fields.DefinitionData(
            label=key.replace("_", " ").capitalize(), key=key, type=type_, options=list(options), required=required,
            special_category=special))


def _agree(app, tenant):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        return special_categories.record(tenant.id, special_categories.AgreementData(
            reference="Annex 3", signed_by="Jan Novák, CEO", signed_on=date(2026, 1, 5), categories=["health"],
            scope="Allergies of event guests"), staff=factories.make_staff("dpo")).id


def _revoke(app, tenant, agreement_id) -> None:
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        agreement = special_categories.get(tenant.id, agreement_id)
        special_categories.revoke(agreement, "Ended", staff=factories.make_staff("dpo"))


@pytest.fixture
def defined(api_app, acme):
    _define(api_app, acme, "segment", "choice", options=["SMB", "Enterprise"])
    _define(api_app, acme, "shoe_size", "number")
    _define(api_app, acme, "met_on", "date")
    _define(api_app, acme, "nickname", "text")


def _stored(app, tenant, contact_id=None) -> dict[str, str]:
    """key -> value of what the database holds (all contacts' values if no id)."""
    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant.id)):
        keys = {d.id: d.key for d in custom_fields.definitions()}
        rows = db.session.scalars(sa.select(CustomValue).where(
            *([CustomValue.contact_id == uuid.UUID(contact_id)] if contact_id else []))).all()
        return {keys[r.field_id]: custom_fields._open(r) for r in rows}


def test_the_definitions_are_listed_in_the_forms_order(api, api_app, acme, globex, defined, http):
    got = api.get("/api/v1/custom-fields")
    assert got.status_code == 200
    body = got.get_json()
    assert body["next_cursor"] is None
    assert [(f["key"], f["type"], f["position"], f["takes_values"]) for f in body["items"]] == [
        ("segment", "choice", 1, True), ("shoe_size", "number", 2, True), ("met_on", "date", 3, True),
        ("nickname", "text", 4, True)]
    segment = body["items"][0]
    assert segment["options"] == ["SMB", "Enterprise"] and segment["label"] == "Segment"
    assert segment["required"] is False and segment["special_category"] is False and segment["created_at"]
    assert body["items"][1]["options"] == []
    assert http.get("/api/v1/custom-fields").status_code == 401
    # Another workspace has its own (none): acme's keys mean nothing there.
    other = Bearer(http, token_for(http, new_client(api_app, globex)))
    assert other.get("/api/v1/custom-fields").get_json()["items"] == []
    refused = other.post("/api/v1/contacts", json={**JANA, "custom_fields": {"segment": "SMB"}})
    assert refused.status_code == 422 and set(error_of(refused)["fields"]) == {"custom_fields.segment"}


def test_values_are_written_with_the_contact_and_read_only_when_asked_for(api, api_app, acme, defined):
    created = api.post("/api/v1/contacts?include=custom_fields", json={
        **JANA, "custom_fields": {"segment": "enterprise", "shoe_size": "38,5", "met_on": "2026-03-01"}})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    # Normalised as on the form: the option as defined, a plain decimal; every key, null where empty.
    assert body["custom_fields"] == {"segment": "Enterprise", "shoe_size": "38.5", "met_on": "2026-03-01",
                                     "nickname": None}
    contact_id = body["id"]
    assert _stored(api_app, acme, contact_id) == {"segment": "Enterprise", "shoe_size": "38.5", "met_on": "2026-03-01"}
    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        raw = b"".join(db.session.scalars(sa.select(CustomValue.value)).all())
    assert b"Enterprise" not in raw and b"38.5" not in raw  # ciphertext at rest, like every value

    plain = api.get(f"/api/v1/contacts/{contact_id}")
    assert "custom_fields" not in plain.get_json()
    one = api.get(f"/api/v1/contacts/{contact_id}?include=custom_fields").get_json()
    assert one["custom_fields"] == body["custom_fields"]
    assert {k: v for k, v in one.items() if k != "custom_fields"} == plain.get_json()
    other = api.post("/api/v1/contacts", json={"first_name": "Petr", "custom_fields": {"shoe_size": 44}})
    assert other.status_code == 201 and "custom_fields" not in other.get_json()
    listed = api.get("/api/v1/contacts?include=custom_fields").get_json()["items"]
    assert [item["custom_fields"] for item in listed] == [
        body["custom_fields"], {"segment": None, "shoe_size": "44", "met_on": None, "nickname": None}]
    assert all("custom_fields" not in item for item in api.get("/api/v1/contacts").get_json()["items"])

    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        reads = db.session.scalars(sa.select(audit.AuditEvent).where(
            audit.AuditEvent.action.in_(["crm.contact.viewed", "crm.contact.listed"]))
            .order_by(audit.AuditEvent.id)).all()
    # The read events say which reads showed custom values.
    assert [bool((e.details or {}).get("custom_fields")) for e in reads] == [False, True, True, False]


def test_a_change_sets_only_the_keys_it_names_and_is_audited_from_and_to(api, api_app, acme, defined):
    created = api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"segment": "SMB", "nickname": "Janička"}})
    contact_id, before = created.get_json()["id"], created.get_json()
    changed = api.patch(f"/api/v1/contacts/{contact_id}?include=custom_fields",
                        json={"custom_fields": {"segment": "Enterprise", "nickname": None, "shoe_size": 0.5}})
    assert changed.status_code == 200, changed.get_json()
    after = changed.get_json()
    assert after["custom_fields"] == {"segment": "Enterprise", "shoe_size": "0.5", "met_on": None, "nickname": None}
    assert after["first_name"] == "Jana" and after["changed_at"] > before["changed_at"]
    assert changed.headers["ETag"] != created.headers["ETag"]
    assert _stored(api_app, acme, contact_id) == {"segment": "Enterprise", "shoe_size": "0.5"}
    # Keys left out keep their values; a contact's own field changes alone.
    assert api.patch(f"/api/v1/contacts/{contact_id}", json={"position": "CFO"}).status_code == 200
    assert _stored(api_app, acme, contact_id) == {"segment": "Enterprise", "shoe_size": "0.5"}

    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        events = db.session.scalars(sa.select(audit.AuditEvent).where(
            audit.AuditEvent.action == "crm.contact.updated", audit.AuditEvent.target_id == contact_id)
            .order_by(audit.AuditEvent.id)).all()
        changes = [(e.actor_type, audit.changes_of(e)) for e in events]
    custom = [(actor, c) for actor, c in changes if any(k.startswith("custom_fields.") for k in c)]
    assert custom == [
        ("api_client", {"custom_fields.segment": (None, "SMB"), "custom_fields.nickname": (None, "Janička")}),
        ("api_client", {"custom_fields.segment": ("SMB", "Enterprise"), "custom_fields.nickname": ("Janička", None),
                        "custom_fields.shoe_size": (None, "0.5")})]


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"segment": "Startup"}, "segment", "Choose one of: SMB, Enterprise."),
    ({"shoe_size": "big"}, "shoe_size", "Enter a number such as 42 or 3.5."),
    ({"shoe_size": 1e20}, "shoe_size", "Enter a number such as 42 or 3.5."),
    ({"shoe_size": True}, "shoe_size", "Expected a number, a string or null."),
    ({"met_on": "1. 3. 2026"}, "met_on", "Enter a date as YYYY-MM-DD, for example 2025-06-30."),
    ({"met_on": "2026-02-30"}, "met_on", "Enter a date as YYYY-MM-DD, for example 2025-06-30."),
    ({"nickname": 7}, "nickname", "Expected a string or null."),
    ({"nickname": ["a"]}, "nickname", "Expected a string or null."),
    ({"nickname": "x" * 2001}, "nickname", "At most 2000 characters."),
    ({"nickname": "a\u0000b"}, "nickname", "Remove the control characters from this field."),
    ({"nickname": "a\nb"}, "nickname", "Remove the control characters from this field."),  # one line, as on the form
    ({"shoe_size": "1,000"}, "shoe_size", "“1,000” could be a thousand or one: write it without a thousands "
                                          "separator, such as 1000 or 1.5."),
    ({"favourite": "x"}, "favourite", "No custom field has this key (GET /api/v1/custom-fields lists them)."),
])
def test_a_bad_value_is_refused_next_to_its_field_and_nothing_is_written(api, api_app, acme, defined, values, field,
                                                                        message):
    existing = api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"nickname": "Jana"}}).get_json()["id"]
    for response in (api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"segment": "SMB", **values}}),
                     api.patch(f"/api/v1/contacts/{existing}", json={"position": "CEO",
                                                                     "custom_fields": {"segment": "SMB", **values}})):
        assert response.status_code == 422, response.get_json()
        error = error_of(response)
        assert error["code"] == "validation_failed" and error["fields"] == {f"custom_fields.{field}": message}
    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert contacts.count(acme.id) == 1
        assert contacts.get(uuid.UUID(existing)).plain()["position"] == ""
    assert _stored(api_app, acme) == {"nickname": "Jana"}


def test_the_contacts_own_errors_and_the_custom_ones_come_together(api, api_app, acme, defined):
    response = api.post("/api/v1/contacts", json={"email": "not an e-mail", "custom_fields": {"segment": "?"}})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert {"email", "custom_fields.segment"} <= set(fields)
    assert api.post("/api/v1/contacts", json={**JANA, "custom_fields": None}).status_code == 400
    assert error_of(api.post("/api/v1/contacts", json={**JANA, "custom_fields": []}))["fields"] == {
        "custom_fields": "Expected an object."}
    assert _stored(api_app, acme) == {}


def test_a_required_field_is_needed_on_a_new_contact_and_cannot_be_cleared(api, api_app, acme):
    api.post("/api/v1/contacts", json={"first_name": "Before"})  # made before the field was required
    _define(api_app, acme, "segment", "choice", options=["SMB"], required=True)
    missing = api.post("/api/v1/contacts", json=JANA)
    assert missing.status_code == 422
    assert error_of(missing)["fields"] == {"custom_fields.segment": "Segment is required."}
    made = api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"segment": "smb"}})
    assert made.status_code == 201
    cleared = api.patch(f"/api/v1/contacts/{made.get_json()['id']}", json={"custom_fields": {"segment": ""}})
    assert error_of(cleared)["fields"] == {"custom_fields.segment": "Segment is required."}
    # A change that leaves the field alone does not need it (the contact made before it was required).
    before = api.get("/api/v1/contacts").get_json()["items"][0]["id"]
    assert api.patch(f"/api/v1/contacts/{before}", json={"position": "CTO"}).status_code == 200


@pytest.mark.obligation("DPA-A.special")
def test_a_special_category_field_takes_values_only_under_an_agreement(api, api_app, acme):
    agreement = _agree(api_app, acme)
    _define(api_app, acme, "allergies", "text", special=True)
    made = api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"allergies": "Peanuts"}})
    assert made.status_code == 201
    contact_id = made.get_json()["id"]
    read = api.get(f"/api/v1/contacts/{contact_id}?include=custom_fields")
    assert read.get_json()["custom_fields"] == {"allergies": "Peanuts"}
    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        event = db.session.scalars(sa.select(audit.AuditEvent).where(
            audit.AuditEvent.action == "crm.contact.viewed")).one()
    assert event.details["custom_fields"] is True and event.details["special_category"] is True
    found = api.get("/api/v1/contacts", query_string={"custom_fields[allergies]": "peanuts"})
    assert [item["id"] for item in found.get_json()["items"]] == [contact_id]

    _revoke(api_app, acme, agreement)
    # Without an agreement the field is not processed further: not even as a filter.
    refused = api.get("/api/v1/contacts", query_string={"custom_fields[allergies]": "peanuts"})
    assert error_of(refused)["fields"] == {"custom_fields[allergies]": NOT_TAKING}
    [listed] = api.get("/api/v1/custom-fields").get_json()["items"]
    assert listed["special_category"] is True and listed["takes_values"] is False
    for response in (api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"allergies": "Pollen"}}),
                     api.patch(f"/api/v1/contacts/{contact_id}", json={"custom_fields": {"allergies": None}})):
        assert response.status_code == 422
        assert error_of(response)["fields"] == {"custom_fields.allergies": NOT_TAKING}
    # The value kept is still the contact's (the controller decides what becomes of it).
    assert _stored(api_app, acme, contact_id) == {"allergies": "Peanuts"}
    assert api.patch(f"/api/v1/contacts/{contact_id}", json={"position": "CFO"}).status_code == 200


def test_include_takes_custom_fields_only(api, defined):
    for path in ("/api/v1/contacts?include=deals", "/api/v1/contacts?include=custom_fields,company"):
        response = api.get(path)
        assert response.status_code == 400
        assert error_of(response)["fields"] == {"include": "Give custom_fields, or leave it out."}
    response = api.post("/api/v1/contacts?include=everything", json=JANA)
    assert response.status_code == 400
    assert api.get("/api/v1/contacts?include=custom_fields").status_code == 200


def test_a_merge_answers_with_the_kept_contacts_values(api, api_app, acme, defined):
    keep = api.post("/api/v1/contacts", json={**JANA, "custom_fields": {"segment": "SMB"}}).get_json()["id"]
    other = api.post("/api/v1/contacts", json={"first_name": "Jana", "custom_fields": {"nickname": "J"}}).get_json()["id"]
    merged = api.post(f"/api/v1/contacts/{keep}/merge?include=custom_fields", json={"other_id": other})
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["custom_fields"] == {"segment": "SMB", "shoe_size": None, "met_on": None,
                                                  "nickname": "J"}


def test_the_openapi_document_describes_them(http):
    document = http.get("/api/v1/openapi.json").get_json()
    contacts_path, one = document["paths"]["/api/v1/contacts"], document["paths"]["/api/v1/contacts/{contact_id}"]
    for operation in (contacts_path["get"], contacts_path["post"], one["get"], one["patch"],
                      document["paths"]["/api/v1/contacts/{contact_id}/merge"]["post"]):
        assert "include" in [p["name"] for p in operation["parameters"]]
    assert "include" not in [p["name"] for p in one["delete"]["parameters"]]
    schemas = document["components"]["schemas"]
    assert schemas["ContactInput"]["properties"]["custom_fields"] == {"$ref": "#/components/schemas/CustomValuesInput"}
    assert schemas["Contact"]["properties"]["custom_fields"]["$ref"] == "#/components/schemas/CustomValues"
    assert "takes_values" in schemas["CustomField"]["properties"]
