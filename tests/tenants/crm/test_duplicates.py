"""Possible duplicates (contacts sharing an e-mail or a phone, found through the blind index)
and merging two of them: the preview shows the result, the merge keeps one contact with every
value of both, moves the other's activities, deals and custom values, carries an objection
over, deletes the other and is audited; it is refused for restricted contacts, an open data
subject request, a stale page, and viewers; nothing is half-written."""

from __future__ import annotations

from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, contacts, custom_fields, deals, duplicates, stages
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal
from tenantry.tenants.subject_requests import finder
from tenantry.tenants.subject_requests import service as subject_requests
from tests.identity.support import in_app, text

from .conftest import listed_reads, opened_form, signed_in


@pytest.fixture
def people(web_app, acme):
    """Jana twice (same e-mail), Eva sharing Jana's phone, Petr alone, and a restricted contact
    with Jana's e-mail."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        def person(**values):
            return contacts.create(contacts.ContactData(**values)).id

        ids = {
            "jana": person(first_name="Jana", last_name="Nováková", emails=["jana@example.cz"],
                           phones=["+420601234567"], notes="Met at the fair", tags=["VIP"]),
            "jana2": person(last_name="Nováková", emails=["jana@example.cz", "jana.n@firma.cz"],
                            position="CFO", notes="Prefers e-mail", tags=["vip", "Newsletter"]),
            "eva": person(first_name="Eva", last_name="Dvořáková", phones=["+420601234567"]),
            "petr": person(first_name="Petr", last_name="Svoboda", emails=["petr@example.cz"]),
            "hidden": person(first_name="Skrytá", emails=["jana@example.cz"]),
        }
        db.session.get(Contact, ids["hidden"]).restricted_at = clock.now()
        return ids


@pytest.mark.obligation("DSR-restrict")
def test_contacts_sharing_an_e_mail_or_a_phone_are_grouped_restricted_ones_left_out(web_app, acme, people):
    member = signed_in(web_app, acme, "member")
    page = member.get("/t/acme/crm/contacts/duplicates")
    assert page.status_code == 200
    html = text(page)
    assert "Same e-mail and phone" in html
    for name in ("Jana Nováková", "Nováková", "Eva Dvořáková"):
        assert f"<strong>{name}</strong>" in html
    assert "Petr" not in html and "Skrytá" not in html
    assert html.count("Compare with") == 2  # the group's first contact with each of the others
    reads = listed_reads(web_app, acme.id)["crm.contact.listed"]
    assert reads["duplicates"] is True
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        found, total = duplicates.groups()
    assert total == 1 and set(found[0].ids) == {people["jana"], people["jana2"], people["eva"]}
    assert "Possible duplicates" in text(member.get("/t/acme/crm/contacts"))


@pytest.mark.obligation("DSR-object")
def test_the_preview_shows_both_and_the_result_and_the_merge_keeps_everything(web_app, acme, people):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        lead = stages.ensure_defaults()[0]
        deal_id = deals.create(deals.DealData(title="Okna", value=Decimal("10"), currency="CZK", stage_id=lead.id,
                                              contact_id=people["jana2"])).id
        activity_id = activities.create("contact", people["jana2"], activities.ActivityData(kind="call", note="Ring")).id
        field = custom_fields.create(custom_fields.DefinitionData(label="Shoe size", key="shoe_size", type="number",
                                                                  options=[], required=False, special_category=False))
        custom_fields.save(db.session.get(Contact, people["jana2"]), {field.id: "38"}, only=[field])
        field_id = field.id
        db.session.get(Contact, people["jana2"]).objected_at = clock.now()
    member = signed_in(web_app, acme, "member")
    preview = member.get(f"/t/acme/crm/contacts/merge?keep={people['jana']}&other={people['jana2']}")
    assert preview.status_code == 200
    html = text(preview)
    assert "Merge Nováková into Jana Nováková" in html
    assert '<td role="cell" data-label="Result" class="merge-value merge-result">jana@example.cz\njana.n@firma.cz</td>' in html
    assert '<td role="cell" data-label="Result" class="merge-value merge-result">Met at the fair\n\nPrefers e-mail</td>' in html
    assert "1 activity and 1 deal of Nováková move to Jana Nováková" in html

    form = {"keep": people["jana"], "other": people["jana2"], "keep_version": "1", "other_version": "2"}
    merged = member.post("/t/acme/crm/contacts/merge", data=form)
    assert merged.status_code == 302, text(merged)
    assert merged.headers["Location"].endswith(f"/crm/contacts/{people['jana']}")
    assert member.get(f"/t/acme/crm/contacts/{people['jana2']}").status_code == 404
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        kept = db.session.get(Contact, people["jana"])
        plain = kept.plain()
        assert plain["emails"] == ["jana@example.cz", "jana.n@firma.cz"]
        assert plain["phones"] == ["+420601234567"] and plain["position"] == "CFO"
        assert plain["tags"] == ["VIP", "Newsletter"]  # "vip" is VIP, as the tag filter matches it
        assert plain["notes"] == "Met at the fair\n\nPrefers e-mail"
        assert kept.objected_at is not None
        assert custom_fields.values_of(kept.id) == {field_id: "38"}
        assert db.session.get(Deal, deal_id).contact_id == kept.id
        assert db.session.get(Activity, activity_id).contact_id == kept.id
    # The other's e-mail now finds the one kept.
    assert f"/crm/contacts/{people['jana']}" in text(member.get("/t/acme/crm/contacts?q=jana.n@firma.cz"))
    with in_app(web_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.contact.merged")).one()
        assert event.target_id == str(people["jana"])
        assert event.details == {"merged_contact_id": str(people["jana2"]), "activities_moved": 1, "deals_moved": 1}
        assert db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.contact.deleted")).one()


def test_a_stale_page_merges_nothing(web_app, acme, people):
    member = signed_in(web_app, acme, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contact = db.session.get(Contact, people["jana2"])
        contacts.update(contact, contacts.ContactData(last_name="Nováková", notes="Changed meanwhile"))
    form = {"keep": people["jana"], "other": people["jana2"], "keep_version": "1", "other_version": "1"}
    refused = member.post("/t/acme/crm/contacts/merge", data=form)
    assert refused.status_code == 409
    assert "was changed after you opened this page, so nothing was merged" in text(refused)
    assert "Changed meanwhile" in text(refused)  # the page shows what is saved now
    assert member.get(f"/t/acme/crm/contacts/{people['jana2']}").status_code == 200


@pytest.mark.obligation("DSR-restrict")
@pytest.mark.parametrize("why", ["restricted", "open request", "same"])
def test_a_merge_is_refused_with_the_reason_and_nothing_changes(web_app, acme, people, why):
    other = {"restricted": "hidden", "open request": "jana2", "same": "jana"}[why]
    if why == "open request":
        with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
            request = subject_requests.open_request("access", finder.Terms(email="jana.n@firma.cz"),
                                                    actor=None)
            assert request.contact_id == people["jana2"]
    member = signed_in(web_app, acme, "member")
    preview = member.get(f"/t/acme/crm/contacts/merge?keep={people['jana']}&other={people[other]}")
    assert preview.status_code == 409
    reason = {"restricted": contacts.RESTRICTED,
              "open request": "A data subject request about this contact is open",
              "same": "Choose two different contacts to merge."}[why]
    assert reason in unescape(text(preview)) and "Merge into" not in text(preview)
    if why == "restricted":  # refused before anything of it is shown
        assert "Skrytá" not in text(preview)
    refused = member.post("/t/acme/crm/contacts/merge", data={"keep": people["jana"], "other": people[other]})
    assert refused.status_code == (409 if why == "restricted" else 422)
    assert reason in unescape(text(refused))
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Contact, people[other]) is not None
        assert db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.contact.merged")).all() == []


def test_viewers_cannot_see_or_merge_and_unknown_ids_are_404(web_app, acme, people):
    viewer = signed_in(web_app, acme, "viewer")
    assert viewer.get("/t/acme/crm/contacts/duplicates").status_code == 403
    assert viewer.post("/t/acme/crm/contacts/merge", data={"keep": people["jana"], "other": people["eva"]}
                       ).status_code == 403
    member = signed_in(web_app, acme, "member")
    assert member.get(f"/t/acme/crm/contacts/merge?keep={people['jana']}&other=zz").status_code == 404
    assert member.get(f"/t/acme/crm/contacts/merge?keep={people['jana']}").status_code == 404


def test_a_contact_s_page_names_its_possible_duplicates_to_members(web_app, acme, people):
    member = signed_in(web_app, acme, "member")
    html = text(member.get(f"/t/acme/crm/contacts/{people['jana']}"))
    assert "Possibly the same person, with the same e-mail or phone:" in html
    assert f"/crm/contacts/merge?keep={people['jana']}&amp;other={people['jana2']}" in html
    assert f"/crm/contacts/merge?keep={people['jana']}&amp;other={people['eva']}" in html
    assert "Skrytá" not in html and "Petr" not in html  # restricted, and not alike
    assert "Possibly the same person" not in text(member.get(f"/t/acme/crm/contacts/{people['petr']}"))
    viewer = signed_in(web_app, acme, "viewer")
    assert "Possibly the same person" not in text(viewer.get(f"/t/acme/crm/contacts/{people['jana']}"))


def _contact_count(web_app, acme) -> int:
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        return db.session.scalar(sa.select(sa.func.count()).select_from(Contact))


def test_a_new_contact_already_in_the_crm_is_shown_what_it_matches_and_made_only_when_asked(web_app, acme, people):
    member = signed_in(web_app, acme, "member")
    before = _contact_count(web_app, acme)
    form = {"first_name": "Jana", "last_name": "Nová", "emails": "JANA@Example.cz", "phones": "601 234 567",
            "address": "", "company": "", "position": "", "notes": "New lead", "tags": ""}
    page = member.post("/t/acme/crm/contacts/new", data=form)
    assert page.status_code == 409
    html = unescape(text(page))
    assert "This contact may be in the CRM already. Nothing is saved yet." in html
    # The e-mail as typed and the phone in the country's short form both match.
    assert f'/crm/contacts/{people["jana"]}">Jana Nováková</a>\n      has the same e-mail address and phone number.' in html
    assert f'/crm/contacts/{people["jana2"]}">Nováková</a>\n      has the same e-mail address.' in html
    assert f'/crm/contacts/{people["eva"]}">Eva Dvořáková</a>\n      has the same phone number.' in html
    assert "Skrytá" not in html and "Petr" not in html  # restricted, and not alike
    assert "JANA@Example.cz" in html and "New lead" in html  # what was typed is kept
    assert 'form="contact-form" name="create_anyway" value="1"' in html
    assert _contact_count(web_app, acme) == before
    reads = listed_reads(web_app, acme.id)["crm.contact.listed"]
    assert reads["duplicates"] is True
    anyway = member.post("/t/acme/crm/contacts/new", data={**form, "create_anyway": "1"})
    assert anyway.status_code == 302
    assert _contact_count(web_app, acme) == before + 1
    # Something that matches no one is saved at once; so is an edit that comes to match someone.
    alone = member.post("/t/acme/crm/contacts/new", data={**form, "emails": "someone.else@example.cz", "phones": ""})
    assert alone.status_code == 302
    edit = f"/t/acme/crm/contacts/{people['petr']}/edit"
    sent = member.post(edit, data={**opened_form(member, edit), "emails": "jana@example.cz"})
    assert sent.status_code == 302


def test_a_new_company_with_a_company_or_vat_id_already_in_the_crm_is_shown_it_first(web_app, acme):
    member = signed_in(web_app, acme, "member")
    form = {"name": "Železárny Nový Bor s.r.o.", "country": "CZ", "company_number": "25596641",
            "vat_id": "", "address": "", "iban": "", "website": "", "notes": ""}
    assert member.post("/t/acme/crm/companies/new", data=form).status_code == 302
    # A Czech legal person's VAT ID is "CZ" and its IČO: one company's IČO matches the other's VAT ID.
    vat_only = {**form, "name": "Železárny NB", "company_number": "", "vat_id": "CZ25596641"}
    again = member.post("/t/acme/crm/companies/new", data=vat_only)
    assert again.status_code == 409
    assert ">Železárny Nový Bor s.r.o.</a>\n      has the same company or VAT ID." in unescape(text(again))
    assert member.post("/t/acme/crm/companies/new", data={**vat_only, "create_anyway": "1"}).status_code == 302
    twin = member.post("/t/acme/crm/companies/new", data={**form, "name": "ŽNB a.s.", "vat_id": "CZ25596641"})
    assert twin.status_code == 409
    html = unescape(text(twin))
    assert "This company may be in the CRM already. Nothing is saved yet." in html
    assert ">Železárny Nový Bor s.r.o.</a>\n      has the same company or VAT ID." in html
    assert ">Železárny NB</a>\n      has the same company or VAT ID." in html
    assert "ŽNB a.s." in html  # kept in the form
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Company)) == 2
    assert member.post("/t/acme/crm/companies/new", data={**form, "create_anyway": "1"}).status_code == 302
    viewer = signed_in(web_app, acme, "viewer")
    assert viewer.post("/t/acme/crm/companies/new", data={**form, "create_anyway": "1"}).status_code == 403
