"""Companies and contacts through the web UI: validation next to each field with nothing
saved, search over blind indexes, lists, roles, and what reaches the raw database."""

from __future__ import annotations

import html
import re
import secrets
import uuid

import pytest
import sqlalchemy as sa

from tenantry.dpa.duties import ropa
from tenantry.platform import jobs
from tenantry.platform.crypto import fields, keyring, rotation
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import companies, contacts
from tenantry.tenants.crm.models import Company, Contact, SearchIndex
from tests.identity.support import count, field_errors, in_app, login_password, new_member, new_tenant, text
from tests.platform.crypto.test_storage_canary import _raw_database_text

VALID_ICO = "25596641"
VALID_IBAN = "CZ65 0800 0000 1920 0014 5399"


def _contact_form(**overrides):
    form = {"first_name": "Jana", "last_name": "Nováková", "emails": "Jana.Novakova@Example.com",
            "phones": "+420 601 234 567", "address": "Dlouhá 1, Praha", "company": "", "position": "CFO",
            "notes": "Met at the fair", "tags": "vip, fair"}
    return {**form, **overrides}


def _company_form(**overrides):
    form = {"name": "Železárny Nový Bor s.r.o.", "country": "CZ", "company_number": VALID_ICO,
            "vat_id": "CZ" + VALID_ICO, "address": "Náměstí 5, Nový Bor", "iban": VALID_IBAN,
            "website": "example.cz", "notes": "Supplier"}
    return {**form, **overrides}


def _saved(web_app) -> tuple[int, int, int]:
    return count(web_app, Company), count(web_app, Contact), count(web_app, SearchIndex)


def _id_from(response, kind: str) -> str:
    match = re.search(rf"/crm/{kind}/([0-9a-f-]{{36}})$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return match.group(1)


@pytest.mark.parametrize(("overrides", "field_id"), [
    ({"emails": "jana@example.com\nnot-an-address"}, "emails"),
    ({"phones": "12"}, "phones"),
    ({"first_name": "", "last_name": ""}, "last_name"),
    ({"first_name": "\u200b", "last_name": "\u00ad "}, "last_name"),  # shows nothing: not filled in
    ({"phones": "+420 601 234 567 ext. 12"}, "phones"),  # E.164 has no extension: not dropped unsaid
    ({"phones": "601 234 OOO"}, "phones"),  # letters: not turned into keypad digits
])
def test_a_bad_contact_value_is_shown_next_to_its_field_and_nothing_is_saved(web_app, member, overrides, field_id):
    response = member.post("/t/acme/crm/contacts/new", data=_contact_form(**overrides))
    assert response.status_code == 422
    assert field_errors(text(response), field_id), text(response)
    others = {"emails", "phones", "last_name", "first_name"} - {field_id}
    assert all(not field_errors(text(response), other) for other in others)
    assert _saved(web_app) == (0, 0, 0)


@pytest.mark.parametrize(("overrides", "field_id", "message"), [
    ({"iban": "CZ65 0800 0000 1920 0014 5398"}, "iban", "IBAN is not valid"),
    ({"company_number": "25596642"}, "company_number", "check digit"),
    ({"company_number": "1234567890"}, "company_number", "8 digits"),
    ({"vat_id": "CZ25596642"}, "vat_id", "EU VAT ID is not valid"),
    ({"website": "not a site"}, "website", "web address"),
    ({"website": "javascript:alert(document.cookie)"}, "website", "web address"),
    ({"website": "https:example.com"}, "website", "web address"),
    ({"website": "example.com/" + "a" * 288}, "website", "at most 300 characters"),  # with its https://
    ({"vat_id": "hello world"}, "vat_id", "with its country code"),
    ({"vat_id": VALID_ICO}, "vat_id", "with its country code"),
    ({"name": "\u200b"}, "name", "Enter the company"),
])
def test_a_bad_company_value_is_shown_next_to_its_field_and_nothing_is_saved(
        web_app, member, overrides, field_id, message):
    response = member.post("/t/acme/crm/companies/new", data=_company_form(**overrides))
    assert response.status_code == 422
    errors = field_errors(text(response), field_id)
    assert errors and message in errors[0], text(response)
    assert _saved(web_app) == (0, 0, 0)


def test_a_company_id_outside_the_czech_republic_is_free_text_and_values_are_normalised(web_app, member):
    response = member.post("/t/acme/crm/companies/new", data=_company_form(
        country="GB", company_number="SC 123456", vat_id="GB 123 4567 89", iban="cz6508000000192000145399"))
    assert response.status_code == 302
    page = text(member.get(response.headers["Location"]))
    assert "SC 123456" in page and "GB123456789" in page and VALID_IBAN in page and "https://example.cz" in page
    swiss = member.post("/t/acme/crm/companies/new", data=_company_form(
        name="Uhrwerk AG", country="CH", company_number="", vat_id="CHE-123.456.788 MWST",
        website="uhrwerk.example.ch:8443/login?next=https://uhrwerk.example.ch/"))
    assert swiss.status_code == 302, field_errors(text(swiss), "website") or field_errors(text(swiss), "vat_id")
    page = text(member.get(swiss.headers["Location"]))
    assert "CHE123456788MWST" in page and "https://uhrwerk.example.ch:8443/login?next=https://uhrwerk" in page


def test_the_ico_is_checked_with_leading_zeros_restored(web_app, member):
    response = member.post("/t/acme/crm/companies/new", data=_company_form(company_number="27 006", vat_id=""))
    assert response.status_code == 302
    assert "00027006" in text(member.get(response.headers["Location"]))


def test_create_show_edit_and_delete_a_contact_of_a_company(web_app, member):
    company_id = _id_from(member.post("/t/acme/crm/companies/new", data=_company_form()), "companies")
    created = member.post("/t/acme/crm/contacts/new", data=_contact_form(company=company_id))
    contact_id = _id_from(created, "contacts")
    page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert "Jana Nováková" in page and "+420601234567" in page and "Železárny Nový Bor s.r.o." in page
    # Stored as E.164, shown grouped as people read it, dialled as stored.
    assert '<a href="tel:+420601234567">+420 601 234 567</a>' in page
    assert "Jana.Novakova@example.com" in page  # the domain is normalised, the local part kept
    listed = text(member.get("/t/acme/crm/contacts"))
    assert 'data-label="Phone"><a href="tel:+420601234567">+420 601 234 567</a></td>' in listed
    assert f'<a href="/t/acme/crm/companies/{company_id}">Železárny Nový Bor s.r.o.</a>' in listed

    edit = member.get(f"/t/acme/crm/contacts/{contact_id}/edit")
    assert edit.status_code == 200 and "Nováková" in text(edit)
    assert member.post(f"/t/acme/crm/contacts/{contact_id}/edit",
                       data=_contact_form(last_name="Dvořáková", company=company_id)).status_code == 302
    assert "Dvořáková" in text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert _search(member, "contacts", "novakova") == []  # the old name's words left the index
    assert _search(member, "contacts", "dvorakova") == ["Jana Dvořáková"]

    # Deleting the company keeps its contact, without a company.
    assert member.post(f"/t/acme/crm/companies/{company_id}/delete").status_code == 302
    assert member.get(f"/t/acme/crm/companies/{company_id}").status_code == 404
    assert "Jana Dvořáková" in text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert member.post(f"/t/acme/crm/contacts/{contact_id}/delete").status_code == 302
    assert member.get(f"/t/acme/crm/contacts/{contact_id}").status_code == 404
    assert _saved(web_app) == (0, 0, 0)


def test_the_sidebar_marks_the_section_of_a_page_below_its_own(web_app, member, admin):
    def marked(path: str, client=member) -> list[tuple[str, str]]:
        page = client.get(path)
        assert page.status_code == 200
        return re.findall(r'<a href="([^"]+)" class="active" aria-current="(page|true)">', text(page))

    contact_id = _id_from(member.post("/t/acme/crm/contacts/new", data=_contact_form()), "contacts")
    assert marked("/t/acme/crm/contacts") == [("/t/acme/crm/contacts", "page")]
    assert marked(f"/t/acme/crm/contacts/{contact_id}/edit") == [("/t/acme/crm/contacts", "true")]
    assert marked("/t/acme/crm/deals/board") == [("/t/acme/crm/deals", "true")]
    assert marked("/t/acme/crm/companies/duplicates") == [("/t/acme/crm/companies", "true")]
    assert marked("/t/acme/") == [("/t/acme/", "page")]
    assert marked("/t/acme/crm/stages", admin) == [("/t/acme/crm/deals", "true")]  # the pipeline's, so Deals


def _search(client, kind: str, q: str = "", **args) -> list[str]:
    response = client.get(f"/t/acme/crm/{kind}", query_string={"q": q, **args})
    assert response.status_code == 200
    return [html.unescape(re.sub(r"\s+", " ", name).strip())
            for name in re.findall(rf'<a href="/t/acme/crm/{kind}/[0-9a-f-]{{36}}">(.*?)</a>', text(response))]


@pytest.mark.obligation("DPA-B.pseudonymisation")
def test_search_by_email_phone_and_any_word_of_a_name_through_blind_indexes(web_app, member):
    member.post("/t/acme/crm/contacts/new", data=_contact_form())
    member.post("/t/acme/crm/contacts/new", data=_contact_form(
        first_name="Petr", last_name="Novák", emails="petr@example.com", phones="777 111 222"))
    member.post("/t/acme/crm/contacts/new", data=_contact_form(
        first_name="Karel", last_name="Dvořák", emails="karel@example.com", phones="+421 905 123 456"))

    assert _search(member, "contacts", "JANA.NOVAKOVA@example.COM") == ["Jana Nováková"]
    assert _search(member, "contacts", "601234567") == ["Jana Nováková"]  # national format, tenant's region
    assert _search(member, "contacts", "00420 601-234-567") == ["Jana Nováková"]
    assert _search(member, "contacts", "+420777111222") == ["Petr Novák"]
    assert _search(member, "contacts", "novak") == ["Petr Novák"]  # a whole word: not "Nováková"
    assert _search(member, "contacts", "NOVÁKOVÁ") == ["Jana Nováková"]
    assert _search(member, "contacts", "petr novak") == ["Petr Novák"]  # every word must match
    assert _search(member, "contacts", "karel novak") == []
    assert _search(member, "contacts", "nov") == []  # exact words only: digests answer no prefixes
    assert _search(member, "contacts") == ["Karel Dvořák", "Petr Novák", "Jana Nováková"]  # by surname
    assert _search(member, "contacts", sort="-name") == ["Jana Nováková", "Petr Novák", "Karel Dvořák"]
    # The sort's label says what it sorts on: contacts by surname, companies by name.
    assert ">Surname A–Z</option>" in member.get("/t/acme/crm/contacts").get_data(as_text=True)
    assert ">Name A–Z</option>" in member.get("/t/acme/crm/companies").get_data(as_text=True)

    member.post("/t/acme/crm/companies/new", data=_company_form())
    assert _search(member, "companies", VALID_ICO) == ["Železárny Nový Bor s.r.o."]
    assert _search(member, "companies", "cz " + VALID_ICO) == ["Železárny Nový Bor s.r.o."]  # the VAT ID
    assert _search(member, "companies", "zelezarny") == ["Železárny Nový Bor s.r.o."]
    assert _search(member, "companies", "sro") == ["Železárny Nový Bor s.r.o."]  # s.r.o. run together
    member.post("/t/acme/crm/companies/new", data=_company_form(name="Sklárna", company_number="27 006", vat_id=""))
    assert _search(member, "companies", "27006") == ["Sklárna"]  # as typed, without the leading zeros kept


def test_a_search_is_normalised_as_a_saved_value_is(web_app, member):
    member.post("/t/acme/crm/contacts/new", data=_contact_form(
        first_name="Seán", last_name="O'Brien", emails="jän@příklad.cz\npe\u0301tr@example.com"))
    assert _search(member, "contacts", "obrien") == ["Seán O'Brien"]  # as often typed, run together
    assert _search(member, "contacts", "O’Brien") == ["Seán O'Brien"]
    assert _search(member, "contacts", "jän@xn--pklad-zsa96e.cz") == ["Seán O'Brien"]  # the domain in punycode
    assert _search(member, "contacts", "ja\u0308n@pr\u030ci\u0301klad.cz") == ["Seán O'Brien"]  # decomposed
    assert _search(member, "contacts", "pe\u0301tr@example.com") == ["Seán O'Brien"]  # as it was typed


def test_filters_and_pagination(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        busy = companies.create(companies.CompanyData(name="Busy a.s.", country="CZ"))
        companies.create(companies.CompanyData(name="Quiet a.s.", country="CZ"))
        for i in range(30):
            contacts.create(contacts.ContactData(first_name=f"P{i:02d}", last_name="Worker", company_id=busy.id))
        contacts.create(contacts.ContactData(first_name="Solo", last_name="Alone"))
        busy_id = str(busy.id)
    assert _search(member, "companies", has_contacts="yes") == ["Busy a.s."]
    assert _search(member, "companies", has_contacts="no") == ["Quiet a.s."]
    first = _search(member, "contacts", company=busy_id)
    second = _search(member, "contacts", company=busy_id, page=2)
    assert len(first) == 25 and len(second) == 5 and not set(first) & set(second)
    assert first[0] == "P00 Worker" and second[-1] == "P29 Worker"
    assert "31 contacts" in text(member.get("/t/acme/crm/contacts"))
    assert len(_search(member, "contacts", sort="newest", page=2)) == 6


@pytest.mark.obligation("DPA-B.access-control")
def test_a_viewer_reads_and_gets_403_on_every_write(web_app, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        company = companies.create(companies.CompanyData(name="Read Only a.s.", country="CZ"))
        contact = contacts.create(contacts.ContactData(first_name="Vera", last_name="Viewed", company_id=company.id))
        company_id, contact_id = company.id, contact.id
    viewer = new_member(web_app, acme, "viewer")
    client = web_app.test_client()
    login_password(client, viewer.email)
    assert client.get("/t/acme/crm/contacts").status_code == 200
    assert client.get(f"/t/acme/crm/contacts/{contact_id}").status_code == 200
    assert client.get(f"/t/acme/crm/companies/{company_id}").status_code == 200
    assert "New contact" not in text(client.get("/t/acme/crm/contacts"))
    before = _saved(web_app)
    for method, url in [
        ("GET", "/t/acme/crm/contacts/new"), ("POST", "/t/acme/crm/contacts/new"),
        ("GET", f"/t/acme/crm/contacts/{contact_id}/edit"), ("POST", f"/t/acme/crm/contacts/{contact_id}/edit"),
        ("POST", f"/t/acme/crm/contacts/{contact_id}/delete"),
        ("GET", "/t/acme/crm/companies/new"), ("POST", "/t/acme/crm/companies/new"),
        ("GET", f"/t/acme/crm/companies/{company_id}/edit"), ("POST", f"/t/acme/crm/companies/{company_id}/edit"),
        ("POST", f"/t/acme/crm/companies/{company_id}/delete"),
    ]:
        data = _contact_form() if "contacts" in url else _company_form()
        assert client.open(url, method=method, data=data).status_code == 403, (method, url)
    assert _saved(web_app) == before


@pytest.mark.obligation("DPA-B.access-control")
def test_a_contact_cannot_point_at_another_tenants_company(web_app, member):
    globex = new_tenant(web_app, "globex")
    with in_app(web_app), tenant_context(db.session.get(Tenant, globex.id)):
        theirs = str(companies.create(companies.CompanyData(name="Globex", country="CZ")).id)
    response = member.post("/t/acme/crm/contacts/new", data=_contact_form(company=theirs))
    assert response.status_code == 422 and field_errors(text(response), "company")
    assert member.get(f"/t/acme/crm/companies/{theirs}").status_code == 404
    assert _search(member, "contacts") == []


@pytest.mark.obligation("TT-aes256", "DPA-B.pseudonymisation")
def test_a_canary_written_through_the_ui_is_absent_from_the_raw_database(web_app, member, database):
    canary = "Canary" + secrets.token_hex(6)
    control_slug = "ctl-" + secrets.token_hex(4)  # tenant slugs are plaintext: the read must see them
    new_tenant(web_app, control_slug)
    company_id = _id_from(member.post("/t/acme/crm/companies/new", data=_company_form(
        name=f"{canary} Holding", notes=f"{canary} notes", address=f"{canary} street")), "companies")
    member.post("/t/acme/crm/contacts/new", data=_contact_form(
        first_name=canary, last_name=f"{canary}ová", emails=f"{canary.lower()}@example.com",
        phones="+420 731 555 019", address=f"{canary} 12", position=f"{canary} lead", notes=f"{canary} note",
        tags=f"{canary}-tag", company=company_id))
    assert _search(member, "contacts", canary) == [f"{canary} {canary}ová"]
    with in_app(web_app, commit=False):
        db.session.remove()
    raw = _raw_database_text(database)
    assert control_slug.encode() in raw, "the raw read does not see plaintext: the check would prove nothing"
    for needle in (canary, canary.lower(), "+420731555019", VALID_IBAN.replace(" ", ""), "Nový Bor"):
        assert needle.encode() not in raw, needle
        assert needle.encode().hex().encode() not in raw, needle


@pytest.mark.obligation("TT-aes256")
def test_a_key_rotation_re_encrypts_contacts_and_companies_and_they_stay_readable(web_app, member, acme):
    contact_id = _id_from(member.post("/t/acme/crm/contacts/new", data=_contact_form()), "contacts")
    company_id = _id_from(member.post("/t/acme/crm/companies/new", data=_company_form()), "companies")
    with in_app(web_app):
        tenant = db.session.get(Tenant, acme.id)
        started = rotation.rotate(tenant)
        assert started.rows_total == 2
        rotation_id = str(started.id)
    # The queued job itself, run here (web_app may route the queue to a Redis worker).
    with in_app(web_app):
        assert jobs.run("tenantry.platform.crypto.rotation:reencrypt_job", str(acme.id),
                        {"rotation_id": rotation_id}) == "done"
    with in_app(web_app, commit=False), all_tenants():
        versions = set()
        for model in (Contact, Company):
            for row in db.session.execute(sa.select(model)).scalars():
                versions |= {fields.key_version(getattr(row, c)) for c in model.ENCRYPTED if getattr(row, c)}
        assert versions == {2}
        # The audit events of the two creations keep v1: the hash chain covers their sealed
        # changes. So v1 is decrypt-only, not retired.
        old, new = keyring.versions(acme.id)
        assert (old.version, old.status, new.version, new.status) == (1, "decrypt-only", 2, "active")
        assert old.in_use["audit events"] >= 2
    page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert "Jana Nováková" in page and "+420601234567" in page
    company_page = text(member.get(f"/t/acme/crm/companies/{company_id}"))
    assert "CZ65 0800 0000 1920 0014 5399" in company_page and "Czechia (CZ)" in company_page
    assert _search(member, "contacts", "novakova") == ["Jana Nováková"]  # the index key does not rotate


@pytest.mark.obligation("DPA-A.scope")
def test_the_record_of_processing_lists_the_contacts_and_companies_held(web_app, member, acme):
    member.post("/t/acme/crm/contacts/new", data=_contact_form())
    member.post("/t/acme/crm/contacts/new", data=_contact_form(first_name="Petr", emails="p@example.com", phones=""))
    member.post("/t/acme/crm/companies/new", data=_company_form())
    with in_app(web_app, commit=False):
        tenant = db.session.get(Tenant, acme.id)
        with tenant_context(tenant):
            held = {c["name"]: c for c in ropa.build(tenant)["categories"]}
    assert held["CRM contacts"]["records"] == 2 and held["CRM companies"]["records"] == 1
    for kind in ("Name", "e-mail", "phone", "address"):
        assert kind in held["CRM contacts"]["data"]
    for kind in ("company and VAT ID", "registered address", "bank account"):
        assert kind in held["CRM companies"]["data"]


def test_a_textarea_sent_with_crlf_line_breaks_is_kept_with_lf(web_app, member):
    """Browsers send CRLF; the note is stored as typed, as the API and exports give it back."""
    created = member.post("/t/acme/crm/contacts/new", data=_contact_form(notes="Met at the fair\r\nLikes tea\rBye",
                                                                         address="Dlouhá 1\r\nPraha"))
    contact_id = _id_from(created, "contacts")
    with in_app(web_app, commit=False), all_tenants():
        plain = db.session.get(Contact, uuid.UUID(contact_id)).plain()
    assert (plain["notes"], plain["address"]) == ("Met at the fair\nLikes tea\nBye", "Dlouhá 1\nPraha")
