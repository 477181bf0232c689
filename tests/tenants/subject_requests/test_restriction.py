"""Restriction of processing [DSR-restrict]: the contact is kept but hidden from lists and search
(web and API), cannot be edited, deleted or exported in list exports, is kept flagged in the
full tenant export, shows as restricted on its page; lifting the restriction restores it all."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies, contacts
from tenantry.tenants.crm.models import Contact, Deal
from tenantry.tenants.lifecycle import archive
from tests.identity.support import count, field_errors, in_app, new_tenant, text
from tests.tenants.api.conftest import Bearer, new_client, token_for
from tests.tenants.subject_requests.support import EMAIL, client_as, open_request, seed, url


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


def _names(response) -> set[str]:
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    return {f"{r[0]} {r[1]}" for r in rows[1:]}


def _archive_contacts(web_app, acme) -> dict[str, dict]:
    with in_app(web_app, commit=False):
        tenant = db.session.get(Tenant, acme.id)
        out = io.BytesIO()
        with tenant_context(tenant):
            archive.write(tenant, out)
    zf = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    rows = [json.loads(line.rstrip(b",")) for line in zf.read("contacts.json").splitlines()
            if line.strip() not in (b"[", b"]", b"")]
    return {r["id"]: r for r in rows}


@pytest.mark.obligation("DSR-restrict")
def test_a_restricted_contact_is_kept_but_hidden_unchangeable_and_unexported_until_lifted(web_app, acme):
    seeded = seed(web_app, acme)
    admin = client_as(web_app, acme, "admin")
    member = client_as(web_app, acme, "member")
    api = Bearer(web_app.test_client(), token_for(web_app.test_client(), new_client(web_app, acme)))
    jana = f"/t/acme/crm/contacts/{seeded.jana}"
    api_jana = f"/api/v1/contacts/{seeded.jana}"

    request_id = open_request(admin, "restriction", email=EMAIL, details="Disputes the accuracy of her data.")
    assert admin.post(url(request_id, "restrict")).status_code == 302
    assert count(web_app, Contact, Contact.id == seeded.jana) == 1  # kept

    # Hidden from the lists and the search, web and API.
    assert "Nováková" not in text(member.get("/t/acme/crm/contacts"))
    assert "Svoboda" in text(member.get("/t/acme/crm/contacts"))
    assert "No contact matches" in text(member.get(f"/t/acme/crm/contacts?q={EMAIL}"))
    assert jana not in text(member.get(f"/t/acme/crm/companies/{seeded.company}"))  # not among its people
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        [(_, _, people)] = [i for i in companies.listing().items if i[0].id == seeded.company]
        assert people == 0 and companies.listing(has_contacts="yes").total == 0  # she was its only person
    assert 'value="' + str(seeded.jana) not in text(member.get("/t/acme/crm/deals/new"))
    listed = api.get("/api/v1/contacts").get_json()["items"]
    assert str(seeded.jana) not in {c["id"] for c in listed}
    assert api.get(f"/api/v1/contacts?q={EMAIL}").get_json()["items"] == []
    # Not usable: no edit, delete, new activity, by hand or through the API.
    edit = member.get(f"{jana}/edit")
    assert edit.status_code == 409 and "restricted" in text(edit)
    assert member.post(f"{jana}/edit", data={"first_name": "Changed", "last_name": "X"}).status_code == 409
    assert member.post(f"{jana}/delete").status_code == 409
    assert member.post(f"{jana}/activities", data={"kind": "call", "note": "x"}).status_code == 409
    jana_activities = [a["id"] for a in api.get(f"/api/v1/activities?contact_id={seeded.jana}").get_json()["items"]]
    assert jana_activities == []  # her activities are not listed either
    added = api.post("/api/v1/activities", json={"kind": "call", "contact_id": str(seeded.jana)})
    for response in (api.get(api_jana), api.patch(api_jana, json={"position": "CEO"}), api.delete(api_jana), added):
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "restricted"
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        kept = contacts.get(seeded.jana)
        assert kept.reveal("first_name") == "Jana" and kept.reveal("position") == "CFO"
    # Not in list exports; in the full export and backups, flagged.
    assert "Jana Nováková" not in _names(member.get("/t/acme/crm/contacts/export.csv"))
    assert "Called Jana about the renewal" not in member.get("/t/acme/crm/activities/export.csv").get_data(
        as_text=True)
    deals_csv = member.get("/t/acme/crm/deals/export.csv").get_data(as_text=True)
    assert "Renewal 2026,1000,EUR,Lead,10,,,," in deals_csv  # the deal, without the restricted contact's name
    full = _archive_contacts(web_app, acme)
    assert full[str(seeded.jana)]["restricted_at"] and full[str(seeded.jana)]["first_name"] == "Jana"
    assert full[str(seeded.colleague)]["restricted_at"] is None
    # The detail page shows it restricted; the request page too.
    page = member.get(jana)
    assert page.status_code == 200 and "Restricted since" in text(page)
    assert "restricted</span>" in text(admin.get(url(request_id)))
    assert admin.post(url(request_id, "restrict")).status_code == 409  # once

    # The request is answered and closed; the restriction lasts until it is lifted.
    assert admin.post(url(request_id, "close"), data={"response": "Restricted while we check."}).status_code == 302
    no_reason = admin.post(url(request_id, "lift-restriction"), data={"lift-reason": ""})
    assert no_reason.status_code == 422 and field_errors(text(no_reason), "lift-reason")
    assert "Nováková" not in text(member.get("/t/acme/crm/contacts"))
    lifted = admin.post(url(request_id, "lift-restriction"), data={"lift-reason": "Accuracy verified; told her."})
    assert lifted.status_code == 302

    assert "Nováková" in text(member.get("/t/acme/crm/contacts"))
    assert "Nováková" in text(member.get(f"/t/acme/crm/contacts?q={EMAIL}"))
    assert str(seeded.jana) in {c["id"] for c in api.get("/api/v1/contacts").get_json()["items"]}
    assert api.get(api_jana).status_code == 200
    [activity] = api.get(f"/api/v1/activities?contact_id={seeded.jana}").get_json()["items"]
    assert api.get(f"/api/v1/activities/{activity['id']}").status_code == 200
    assert "Jana Nováková" in _names(member.get("/t/acme/crm/contacts/export.csv"))
    assert member.get(f"{jana}/edit").status_code == 200
    assert "Restricted since" not in text(member.get(jana))
    assert _archive_contacts(web_app, acme)[str(seeded.jana)]["restricted_at"] is None


@pytest.mark.obligation("DSR-restrict", "DSR-rectify")
def test_a_restricted_contact_can_still_be_rectified_through_a_request(web_app, acme):
    seeded = seed(web_app, acme)
    admin = client_as(web_app, acme, "owner")
    restriction = open_request(admin, "restriction", email=EMAIL)
    assert admin.post(url(restriction, "restrict")).status_code == 302
    rectification = open_request(admin, "rectification", email=EMAIL)
    form = admin.get(url(rectification, "rectify"))
    assert form.status_code == 200
    response = admin.post(url(rectification, "rectify"), data={
        "first_name": "Jana", "last_name": "Nováková", "emails": EMAIL, "position": "CEO",
        "company": str(seeded.company)})
    assert response.status_code == 302
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        contact = contacts.get(seeded.jana)
        assert contact.reveal("position") == "CEO" and contact.restricted_at is not None


@pytest.mark.obligation("DSR-restrict")
def test_no_deal_is_newly_linked_to_a_restricted_contact_and_its_own_deal_keeps_her(web_app, acme):
    from tenantry.platform import clock

    seeded = seed(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, seeded.jana).restricted_at = clock.now()
    api = Bearer(web_app.test_client(), token_for(web_app.test_client(), new_client(web_app, acme)))
    new = api.post("/api/v1/deals", json={"title": "R", "value": "1", "currency": "EUR",
                                          "contact_id": str(seeded.jana)})
    assert new.status_code == 422 and "restricted" in new.get_json()["error"]["fields"]["contact_id"]
    linked = api.patch(f"/api/v1/deals/{seeded.other_deal}", json={"contact_id": str(seeded.jana)})
    assert linked.status_code == 422 and "restricted" in linked.get_json()["error"]["fields"]["contact_id"]
    own = api.patch(f"/api/v1/deals/{seeded.deal}", json={"title": "Renewal 2027"})
    assert own.status_code == 200 and own.get_json()["contact_id"] == str(seeded.jana)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.get(Deal, seeded.other_deal).contact_id is None
