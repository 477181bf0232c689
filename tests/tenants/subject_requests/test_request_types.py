"""Each kind of data subject request end to end through the web UI: access, portability,
rectification, erasure and objection (restriction has its own file), with the recipients to
inform, the history, the response, the audit trail and encryption at rest."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import contacts, search
from tenantry.tenants.crm.custom_fields import CustomValue
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal, SearchIndex
from tenantry.tenants.subject_requests.models import (
    SubjectRequest,
    SubjectRequestEvent,
    SubjectRequestRecipient,
)
from tests import factories
from tests.identity.support import count, field_errors, in_app, new_tenant, text
from tests.platform.crypto.test_storage_canary import _raw_database_text
from tests.tenants.subject_requests.support import EMAIL, PHONE, client_as, open_request, seed, url


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


@pytest.fixture
def seeded(web_app, acme):
    return seed(web_app, acme)


@pytest.fixture
def admin(web_app, acme):
    return client_as(web_app, acme, "admin")


def _events(web_app, action: str) -> list[AuditEvent]:
    with in_app(web_app, commit=False):
        rows = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).scalars().all()
        db.session.expunge_all()
        return rows


def _no_personal_data(web_app) -> None:
    """No dsr.* audit event names the person."""
    with in_app(web_app, commit=False):
        rows = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action.like("dsr.%"))).scalars().all()
        assert rows
        for row in rows:
            dumped = json.dumps(row.details or {}, ensure_ascii=False).lower()
            for secret in ("jana", "novak", "nováková", EMAIL, PHONE):
                assert secret not in dumped, (row.action, dumped)


def _request(web_app, acme, request_id) -> SubjectRequest:
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        req = db.session.get(SubjectRequest, uuid.UUID(request_id))
        db.session.expunge(req)
        return req


@pytest.mark.obligation("DSR-access")
def test_access_finds_the_person_everywhere_by_email_phone_or_name(web_app, acme, seeded, admin):
    for terms in ({"email": EMAIL.upper()}, {"phone": "601 234 567"}, {"name": "jana NOVAKOVA"}):
        request_id = open_request(admin, "access", **terms)
        page = text(admin.get(url(request_id)))
        assert f"/crm/contacts/{seeded.jana}" in page, terms  # the contact, found by blind index
        assert "Called Jana about the renewal" in page  # the activity linked to it
        assert f"/crm/deals/{seeded.deal}" in page  # the deal linked to it
        # Mentions in free text elsewhere, case- and accent-insensitively.
        assert f"/crm/contacts/{seeded.colleague}" in page
        assert f"/crm/companies/{seeded.company}" in page
        assert f"/crm/deals/{seeded.other_deal}" in page
        assert "activity note" in page
    viewed = _events(web_app, "dsr.request.viewed")
    assert viewed and viewed[-1].details["contacts"] == [str(seeded.jana)]
    opened = _events(web_app, "dsr.request.opened")
    assert len(opened) == 3 and opened[0].target_type == "subject_request"
    _no_personal_data(web_app)


@pytest.mark.obligation("DSR-access", "DSR-portability")
def test_portability_hands_over_json_and_csv_downloads_and_audits_them(web_app, acme, seeded, admin):
    request_id = open_request(admin, "portability", email=EMAIL)
    response = admin.get(url(request_id, "download") + "?format=json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    doc = json.loads(response.get_data(as_text=True))
    assert doc["format"] == "tenantry-subject-data"
    [contact] = doc["contacts"]
    assert contact["id"] == str(seeded.jana) and contact["emails"] == [EMAIL] and contact["phones"] == [PHONE]
    assert contact["custom_fields"] == {"Birthday": "12 May"} and contact["company"] == "Železárny a.s."
    assert [a["note"] for a in doc["activities"]] == ["Called Jana about the renewal"]
    assert [d["title"] for d in doc["deals"]] == ["Renewal 2026"]
    assert {m["record_id"] for m in doc["mentions"]} == {str(seeded.colleague), str(seeded.company),
                                                         str(seeded.company_activity), str(seeded.other_deal)}
    assert all(len(m["passages"]) == 1 for m in doc["mentions"])

    response = admin.get(url(request_id, "download") + "?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["record_type", "record_id", "field", "value"]
    assert ["contact", str(seeded.jana), "emails", EMAIL] in rows
    assert ["contact", str(seeded.jana), "custom: Birthday", "12 May"] in rows
    assert any(r[0] == "mention in deal" and "Upsell for Jana Nováková" in r[3] for r in rows)

    assert admin.get(url(request_id, "download") + "?format=xml").status_code == 404
    exported = _events(web_app, "dsr.request.data_exported")
    assert [e.details["format"] for e in exported] == ["json", "csv"]
    assert exported[0].target_type == "contact" and exported[0].details["ids"] == [str(seeded.jana)]
    assert exported[0].details["request_id"] == request_id
    _no_personal_data(web_app)


@pytest.mark.obligation("DSR-notify")
@pytest.mark.obligation("DSR-rectify")
def test_rectification_uses_the_contact_form_and_lists_the_recipients_to_tell(web_app, acme, seeded, admin):
    from tests.tenants.api.conftest import new_client

    sync = new_client(web_app, acme, scopes="crm:read", name="Newsletter sync")
    new_client(web_app, acme, scopes="export", name="Backup tool")  # no CRM scope: not a recipient
    exporter = client_as(web_app, acme, "member")
    assert exporter.get("/t/acme/crm/contacts/export.csv").status_code == 200  # Jana's row goes out

    request_id = open_request(admin, "rectification", name="Jana Nováková")
    page = text(admin.get(url(request_id)))
    assert "Newsletter sync" in page and "Backup tool" not in page
    assert "Exported the data (contacts CSV export)" in page
    assert "Amazon Web Services" in page  # the active subprocessors

    form = text(admin.get(url(request_id, "rectify")))
    assert 'value="Nováková"' in form and "jana.novakova@example.com" in form
    bad = admin.post(url(request_id, "rectify"), data={"first_name": "", "last_name": "", "emails": EMAIL})
    assert bad.status_code == 422 and field_errors(text(bad), "last_name")
    response = admin.post(url(request_id, "rectify"), data={
        "first_name": "Jana", "last_name": "Dvořáková", "emails": "jana.dvorakova@example.com", "phones": PHONE,
        "company": str(seeded.company), "position": "CFO", "address": "", "tags": "vip", "notes": "Prefers calls",
        "cf_birthday": "12 May"})
    assert response.status_code == 302, text(response)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.get(seeded.jana)
        assert jana.reveal("last_name") == "Dvořáková" and jana.reveal("emails") == ["jana.dvorakova@example.com"]
        assert db.session.execute(search.matching("contact", "Dvořáková")).scalars().all() == [seeded.jana]
        [event] = db.session.execute(sa.select(SubjectRequestEvent).where(
            SubjectRequestEvent.action == "rectified")).scalars().all()
        assert event.details["fields"] == ["emails", "last_name"]
        recipients = db.session.execute(sa.select(SubjectRequestRecipient)).scalars().all()
        assert {r.kind for r in recipients} == {"api_client", "subprocessor", "member"}
        client_row = next(r for r in recipients if r.kind == "api_client")
        assert client_row.ref_id == str(sync.pk)
        member_row = next(r for r in recipients if r.kind == "member")
        assert member_row.ref_id == str(exporter.person.id)
    rectified = _events(web_app, "dsr.request.rectified")[0]
    assert rectified.details["fields"] == ["emails", "last_name"]  # the values only sealed in `changes`

    # Mark one recipient as told: who and when are shown.
    told = admin.post(url(request_id, "recipients/told"), data={"recipient_id": str(client_row.id)})
    assert told.status_code == 302
    page = text(admin.get(url(request_id)))
    assert "told</span>" in page and "rectified" in page
    again = admin.post(url(request_id, "recipients/told"), data={"recipient_id": str(client_row.id)})
    assert again.status_code == 409 and "already marked" in text(again)
    assert admin.post(url(request_id, "recipients/told"), data={"recipient_id": "nope"}).status_code == 409
    with in_app(web_app, commit=False), all_tenants():
        row = db.session.get(SubjectRequestRecipient, client_row.id)
        assert row.told_at is not None and row.told_by_id == admin.person.id

    closed = admin.post(url(request_id, "close"), data={"response": "Corrected your surname and e-mail."})
    assert closed.status_code == 302
    assert _request(web_app, acme, request_id).status == "closed"
    _no_personal_data(web_app)


@pytest.mark.obligation("DSR-notify")
@pytest.mark.obligation("DSR-erase")
def test_erasure_removes_the_contact_with_its_activities_and_redacts_mentions(web_app, acme, seeded, admin):
    request_id = open_request(admin, "erasure", email=EMAIL)
    refused = admin.post(url(request_id, "erase"), data={})
    assert refused.status_code == 422 and field_errors(text(refused), "confirm")
    assert count(web_app, Contact, Contact.id == seeded.jana) == 1

    response = admin.post(url(request_id, "erase"), data={"confirm": "y"})
    assert response.status_code == 302
    assert count(web_app, Contact, Contact.id == seeded.jana) == 0
    assert count(web_app, Activity, Activity.id == seeded.jana_activity) == 0
    assert count(web_app, CustomValue, CustomValue.contact_id == seeded.jana) == 0
    assert count(web_app, SearchIndex, SearchIndex.row_id == seeded.jana) == 0
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        colleague = db.session.get(Contact, seeded.colleague)
        assert colleague.reveal("notes") == "Works with [redacted]; write to [redacted] for invoices."
        assert db.session.get(Company, seeded.company).reveal("notes") == "Main contact: [redacted] ([redacted])."
        assert db.session.get(Activity, seeded.company_activity).reveal("note") == "Meeting with [redacted] and Petr"
        assert db.session.get(Deal, seeded.other_deal).reveal("title") == "Upsell for [redacted]"
        kept = db.session.get(Deal, seeded.deal)
        assert kept is not None and kept.contact_id is None  # the deal stays, without the person
        assert db.session.execute(search.matching("contact", EMAIL)).first() is None
    redacted = {(e.target_type, e.target_id) for e in _events(web_app, "crm.contact.redacted")
                + _events(web_app, "crm.company.redacted") + _events(web_app, "crm.activity.redacted")
                + _events(web_app, "crm.deal.redacted")}
    assert redacted == {("contact", str(seeded.colleague)), ("company", str(seeded.company)),
                        ("activity", str(seeded.company_activity)), ("deal", str(seeded.other_deal))}

    page = text(admin.get(url(request_id)))
    assert "Erased on" in page and "kept 30 days" in page
    assert "they expire with the backups, which are kept for 30 days" in page  # the prefilled response
    assert "Mark as told" in page  # the recipients listed (the active subprocessors)
    assert admin.post(url(request_id, "erase"), data={"confirm": "y"}).status_code == 409  # once only
    response_text = "Erased; backup copies expire within 30 days."
    assert admin.post(url(request_id, "close"), data={"response": response_text}).status_code == 302
    req = _request(web_app, acme, request_id)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.get(SubjectRequest, req.id).reveal("response") == response_text
    _no_personal_data(web_app)


@pytest.mark.obligation("DSR-erase")
def test_the_erasure_response_names_the_configured_backup_retention(make_app):
    from tests.identity.support import NO_LIMIT

    app = make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT, TENANTRY_BACKUP_RETENTION_DAYS="45")
    acme = new_tenant(app, "acme", country="CZ")
    seed(app, acme)
    admin = client_as(app, acme, "owner")
    request_id = open_request(admin, "erasure", name="Jana Nováková")
    assert admin.post(url(request_id, "erase"), data={"confirm": "y"}).status_code == 302
    assert "which are kept for 45 days" in text(admin.get(url(request_id)))


@pytest.mark.obligation("DSR-object")
def test_an_objection_is_recorded_shown_and_keeps_the_contact_out_of_bulk_processing(web_app, acme, seeded, admin):
    from tests.tenants.api.conftest import Bearer, new_client, token_for

    request_id = open_request(admin, "objection", email=EMAIL, details="No more marketing, please.")
    assert admin.post(url(request_id, "object")).status_code == 302
    member = client_as(web_app, acme, "member")
    shown = text(member.get(f"/t/acme/crm/contacts/{seeded.jana}"))
    assert "objected to processing" in shown
    assert "Nováková" in text(member.get("/t/acme/crm/contacts"))  # still listed and usable by hand
    exported = _names_in(member.get("/t/acme/crm/contacts/export.csv"))
    assert ("Jana", "Nováková") not in exported and ("Petr", "Svoboda") in exported
    activities_csv = member.get("/t/acme/crm/activities/export.csv").get_data(as_text=True)
    assert "Called Jana about the renewal" not in activities_csv
    api = Bearer(web_app.test_client(), token_for(web_app.test_client(), new_client(web_app, acme)))
    listed = api.get("/api/v1/contacts").get_json()["items"]
    assert str(seeded.jana) not in {c["id"] for c in listed} and str(seeded.colleague) in {c["id"] for c in listed}
    assert api.get(f"/api/v1/contacts/{seeded.jana}").status_code == 200
    assert _events(web_app, "crm.contact.objected")[0].target_id == str(seeded.jana)
    assert admin.post(url(request_id, "object")).status_code == 409  # already recorded

    # Lifted (withdrawn, or compelling grounds), with the reason: the contact is exported again.
    no_reason = admin.post(url(request_id, "lift-objection"), data={"lift-reason": ""})
    assert no_reason.status_code == 422 and field_errors(text(no_reason), "lift-reason")
    assert admin.post(url(request_id, "lift-objection"),
                      data={"lift-reason": "The person withdrew the objection."}).status_code == 302
    assert ("Jana", "Nováková") in _names_in(member.get("/t/acme/crm/contacts/export.csv"))
    _no_personal_data(web_app)


def _names_in(response) -> set[tuple[str, str]]:
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    return {(r[0], r[1]) for r in rows[1:]}


def test_several_matching_contacts_are_offered_and_one_is_chosen(web_app, acme, seeded, admin):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        other = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                                     emails=["other.jana@example.com"])).id
    request_id = open_request(admin, "restriction", name="Jana Nováková")
    page = text(admin.get(url(request_id)))
    assert "This is the person" in page and "other.jana@example.com" in page and "Not identified yet" in page
    assert admin.post(url(request_id, "restrict")).status_code == 409  # who, first
    stranger = admin.post(url(request_id, "link"), data={"contact_id": str(seeded.colleague)})
    assert stranger.status_code == 409  # not one of the matches
    assert admin.post(url(request_id, "link"), data={"contact_id": "garbage"}).status_code == 409
    assert admin.post(url(request_id, "link"), data={"contact_id": str(other)}).status_code == 302
    assert _request(web_app, acme, request_id).contact_id == other


def test_bad_input_is_refused_next_to_its_field_and_nothing_is_saved(web_app, acme, admin):
    for data, field in (({"kind": "access"}, "name"), ({"kind": "", "name": "Jana"}, "kind"),
                        ({"kind": "hacking", "name": "Jana"}, "kind"),
                        ({"kind": "access", "email": "not-an-address"}, "email"),
                        ({"kind": "access", "phone": "12"}, "phone"),
                        ({"kind": "access", "name": "x\x00y"}, "name")):
        response = admin.post("/t/acme/subject-requests/new", data=data)
        assert response.status_code == 422, data
        assert field_errors(text(response), field), (data, text(response))
    assert count(web_app, SubjectRequest) == 0
    assert admin.get(f"/t/acme/subject-requests/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404
    assert admin.get("/t/acme/subject-requests/not-a-uuid").status_code == 404


def test_a_closed_request_refuses_its_actions(web_app, acme, seeded, admin):
    request_id = open_request(admin, "erasure", email=EMAIL)
    no_response = admin.post(url(request_id, "close"), data={"response": ""})
    assert no_response.status_code == 422 and field_errors(text(no_response), "response")
    assert admin.post(url(request_id, "close"), data={"response": "We keep it: legal obligation."}).status_code == 302
    refused = admin.post(url(request_id, "erase"), data={"confirm": "y"})
    assert refused.status_code == 409 and "closed" in text(refused)
    assert count(web_app, Contact, Contact.id == seeded.jana) == 1
    assert admin.post(url(request_id, "close"), data={"response": "again"}).status_code == 409


@pytest.mark.obligation("TT-aes256", "DPA-B.pseudonymisation")
def test_what_identifies_the_person_is_encrypted_at_rest(web_app, acme, admin, database):
    canary = "Kanárková" + secrets.token_hex(4)
    request_id = open_request(admin, "access", name=f"Zdeňka {canary}", email=f"{canary.lower()}@example.com",
                              details=f"Letter from {canary}")
    admin.post(url(request_id, "extend"), data={"extend-reason": f"Many records of {canary}"})
    admin.post(url(request_id, "close"), data={"response": f"Sent to {canary}"})
    raw = _raw_database_text(database)
    assert canary.encode() not in raw and canary.lower().encode() not in raw
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        req = db.session.get(SubjectRequest, uuid.UUID(request_id))
        assert canary in req.reveal("subject_name") and canary in req.reveal("response")
        assert canary in req.reveal("extension_reason")


def test_the_encrypted_columns_are_registered_for_key_rotation(web_app):
    from tenantry.platform.crypto import rotation

    with web_app.app_context():
        registered = rotation.registered()
    assert {c.column for c in registered["subject_requests"]} == set(SubjectRequest.ENCRYPTED)
    assert {c.column for c in registered["subject_request_events"]} == {"note"}


def test_forms_need_their_csrf_token(make_app):
    from tests.identity.support import NO_LIMIT

    app = make_app(TENANTRY_RATELIMIT_LOGIN=NO_LIMIT)  # CSRF on, as in production
    acme = new_tenant(app, "acme", country="CZ")
    client = app.test_client()
    login_page = text(client.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    response = client.post("/login", data={"email": acme.owner.email, "password": factories.PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    assert client.post("/t/acme/subject-requests/new", data={"kind": "access", "name": "Jana"}).status_code == 400
    page = text(client.get("/t/acme/subject-requests/new"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/t/acme/subject-requests/new", data={"kind": "access", "name": "Jana", "csrf_token": token})
    assert response.status_code == 302
    assert count(app, SubjectRequest) == 1
