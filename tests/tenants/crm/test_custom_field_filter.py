"""The contact list filtered by a custom field's value: through each value's blind index
(bound to its field; whole, case and accents folded), read as the contact form reads it, in
the web UI (kept by the pager, the export and the bulk form), the CSV export and the API;
values saved before the digests existed are found by decrypting until the rebuild fills them."""

from __future__ import annotations

import csv
import io
import re
import uuid
from html import unescape

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts, custom_fields, index_builds
from tenantry.tenants.crm.custom_fields import CustomValue
from tenantry.tenants.crm.models import SearchIndexBuild
from tests.identity.support import field_errors, in_app, text
from tests.tenants.crm.test_tags import _names

PEOPLE = {"Jana": {"segment": "Enterprise", "shoe": "38", "nickname": "Janička", "tier": "SMB"},
          "Petr": {"segment": "SMB", "shoe": "44.5", "nickname": "Péťa"},
          "Eva": {"segment": "enterprise"},
          "Olga": {}}


@pytest.fixture
def people(web_app, acme) -> dict[str, uuid.UUID]:
    """Four contacts with custom values saved as the form saves them; their ids by first name."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        made = {}
        for key, type_, options in (("segment", "choice", ["SMB", "Enterprise"]), ("shoe", "number", []),
                                    ("nickname", "text", []), ("tier", "choice", ["SMB", "Gold"])):
            made[key] = custom_fields.create(custom_fields.DefinitionData(
                label=key.capitalize(), key=key, type=type_, options=options, required=False,
                special_category=False))
        ids = {}
        for first, values in PEOPLE.items():
            contact = contacts.create(contacts.ContactData(first_name=first, last_name="Tester"))
            by_id = {made[k].id: custom_fields.normalise(made[k], v) for k, v in values.items()}
            custom_fields.save(contact, by_id, only=list(made.values()))
            ids[first] = contact.id
        if db.session.get(SearchIndexBuild, acme.id) is None:  # the digests are trusted, as in a new workspace
            index_builds.start_current(acme.id)
    return ids


def test_the_list_shows_the_contacts_holding_the_value(member, people):
    assert _names(member, field="segment", value="enterprise") == ["Eva Tester", "Jana Tester"]
    assert _names(member, field="segment", value="SMB") == ["Petr Tester"]
    # A value is bound to its field: Jana's "SMB" is her tier, not her segment.
    assert _names(member, field="tier", value="smb") == ["Jana Tester"]
    # Read as the form reads it: "38,0" is the number 38; a text whole, without case or accents.
    assert _names(member, field="shoe", value="38,0") == ["Jana Tester"]
    assert _names(member, field="shoe", value="44,5") == ["Petr Tester"]
    assert _names(member, field="nickname", value="  JANICKA ") == ["Jana Tester"]
    assert _names(member, field="nickname", value="Jan") == []
    # No value: no filter by the field.
    assert len(_names(member, field="segment", value="")) == 4
    page = text(member.get("/t/acme/crm/contacts", query_string={"field": "nickname", "value": "nobody"}))
    assert "No contact matches." in page


def test_a_bad_filter_is_said_next_to_it_and_the_list_is_not_filtered_by_it(member, people):
    page = text(member.get("/t/acme/crm/contacts", query_string={"field": "shoe", "value": "big"}))
    assert field_errors(page, "value") == ["Shoe: Enter a number such as 42 or 3.5. The list is not filtered by it."]
    assert 'aria-describedby="value-err"' in page and len(re.findall(r"Tester", page)) >= 4
    page = text(member.get("/t/acme/crm/contacts", query_string={"field": "segment", "value": "Startup"}))
    assert field_errors(page, "value") == ["Segment: Choose one of: SMB, Enterprise. The list is not filtered by it."]
    page = text(member.get("/t/acme/crm/contacts", query_string={"field": "colour", "value": "red"}))
    assert [unescape(e) for e in field_errors(page, "field")] == [
        "Choose one of this workspace's custom fields. The list is not filtered by a custom field."]


def test_the_pager_the_export_and_the_bulk_form_keep_the_filter(member, people):
    page = text(member.get("/t/acme/crm/contacts", query_string={"field": "segment", "value": "Enterprise"}))
    export_link = re.search(r'href="(/t/acme/crm/contacts/export\.csv\?[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "field=segment" in export_link and "value=Enterprise" in export_link
    assert '<input type="hidden" name="list_field" value="segment">' in page
    assert '<input type="hidden" name="list_value" value="Enterprise">' in page
    exported = member.get(export_link)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r["First name"] for r in rows) == ["Eva", "Jana"]
    assert {r["Segment"] for r in rows} == {"Enterprise"}
    # The selected field and the value stay in the filter form.
    assert '<option value="segment" selected>Segment</option>' in page
    assert 'name="value" id="value" value="Enterprise"' in page


def test_until_the_digests_are_filled_the_filter_decrypts_and_misses_nothing(web_app, member, acme, people):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        # The state of values saved before they had digests (migration 0034).
        db.session.execute(sa.update(CustomValue).values(digest=None))
        db.session.get(SearchIndexBuild, acme.id).version = index_builds.COMPANY_IDS
        db.session.flush()
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert not index_builds.is_current(acme.id, index_builds.CUSTOM_VALUES)
    assert _names(member, field="segment", value="ENTERPRISE") == ["Eva Tester", "Jana Tester"]
    assert _names(member, field="nickname", value="peta") == ["Petr Tester"]

    with in_app(web_app):
        assert index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=4) == 4
    with in_app(web_app):
        assert index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=4) == 4
    for _ in range(10):  # a full batch may not be the last, and the later passes follow (names' joined words)
        with in_app(web_app):
            if not index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=4):
                break
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert index_builds.is_current(acme.id)
        digests = db.session.scalars(sa.select(CustomValue.digest)).all()
    assert len(digests) == 8 and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    assert _names(member, field="segment", value="ENTERPRISE") == ["Eva Tester", "Jana Tester"]
    assert _names(member, field="nickname", value="peta") == ["Petr Tester"]


def test_a_changed_or_cleared_value_is_found_by_what_it_is_now(web_app, member, acme, people):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        segment = next(d for d in custom_fields.definitions() if d.key == "segment")
        custom_fields.save(contacts.get(people["Eva"]), {segment.id: "SMB"}, only=[segment])
        custom_fields.save(contacts.get(people["Jana"]), {segment.id: ""}, only=[segment])
    assert _names(member, field="segment", value="Enterprise") == []
    assert _names(member, field="segment", value="SMB") == ["Eva Tester", "Petr Tester"]


def test_the_api_filters_by_custom_fields(web_app, acme, people):
    from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for

    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))

    def firsts(**args):
        response = api.get("/api/v1/contacts", query_string=args)
        assert response.status_code == 200, response.get_json()
        return sorted(item["first_name"] for item in response.get_json()["items"])

    assert firsts(**{"custom_fields[segment]": "enterprise"}) == ["Eva", "Jana"]
    assert firsts(**{"custom_fields[segment]": "enterprise", "custom_fields[shoe]": "38"}) == ["Jana"]
    assert firsts(**{"custom_fields[tier]": "SMB", "q": "Jana"}) == ["Jana"]
    assert firsts(**{"custom_fields[segment]": ""}) == ["Eva", "Jana", "Olga", "Petr"]
    assert firsts(custom_fields_missing="tier") == ["Eva", "Olga", "Petr"]
    assert firsts(custom_fields_missing="tier, shoe") == ["Eva", "Olga"]
    assert firsts(custom_fields_missing="shoe", **{"custom_fields[segment]": "enterprise"}) == ["Eva"]
    missing = api.get("/api/v1/contacts", query_string={"custom_fields_missing": "colour,shoe,size"})
    assert error_of(missing)["fields"] == {
        "custom_fields_missing": f"colour: {custom_fields.NO_SUCH_FIELD} size: {custom_fields.NO_SUCH_FIELD}"}
    # Odd values find nothing or are refused, and never reach a query as they are (a NUL byte
    # fails PostgreSQL).
    nul = api.get("/api/v1/contacts", query_string={"custom_fields[nickname]": "a\x00b"})
    assert nul.status_code == 422 and "control characters" in error_of(nul)["fields"]["custom_fields[nickname]"]
    assert firsts(**{"custom_fields[nickname]": "\u0301"}) == []
    assert api.get("/api/v1/contacts", query_string={"custom_fields[nickname]": "x" * 5000}).status_code == 422
    assert api.get("/api/v1/contacts", query_string={"custom_fields[\x00]": "x"}).status_code == 422
    assert api.get("/api/v1/contacts", query_string={"custom_fields_missing": "a\x00b," + "x" * 5000}).status_code == 422
    refused = api.get("/api/v1/contacts", query_string={"custom_fields[shoe]": "big", "custom_fields[colour]": "x"})
    assert refused.status_code == 422
    assert error_of(refused)["fields"] == {
        "custom_fields[shoe]": "Enter a number such as 42 or 3.5.",
        "custom_fields[colour]": custom_fields.NO_SUCH_FIELD}


def test_contacts_imported_from_csv_are_found_by_their_values(web_app, member, acme, people):
    from tenantry.tenants.crm import csv_import
    from tenantry.tenants.crm.models import CONTACT

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        checked = csv_import.check(CONTACT, "First name;Surname;Segment;Shoe\nIvana;Tester;enterprise;41,5\n")
        assert not [row.errors for row in checked.rows if row.errors]
        assert csv_import.write(checked) == 1
    assert _names(member, field="segment", value="Enterprise") == ["Eva Tester", "Ivana Tester", "Jana Tester"]
    assert _names(member, field="shoe", value="41.5") == ["Ivana Tester"]


def test_a_choice_on_the_contact_page_leads_to_the_contacts_with_it(member, people):
    page = text(member.get(f"/t/acme/crm/contacts/{people['Jana']}"))
    links = re.findall(r'<a class="badge badge-link" href="(/t/acme/crm/contacts\?field=[^"]+)"', page)
    assert sorted(unescape(link) for link in links) == ["/t/acme/crm/contacts?field=segment&value=Enterprise",
                                                        "/t/acme/crm/contacts?field=tier&value=SMB"]
    assert _names(member, field="segment", value="Enterprise") == ["Eva Tester", "Jana Tester"]
    assert 'aria-label="Contacts whose Segment is Enterprise"' in page


@pytest.mark.browser
def test_the_value_box_offers_the_options_of_the_field_chosen(live_server, browser_page):
    from tests.tenants.crm.conftest import acme_in_a_browser

    def seed(app, tenant):
        with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
            for key, type_, options in (("segment", "choice", ["SMB", "Enterprise"]), ("shoe", "number", [])):
                custom_fields.create(custom_fields.DefinitionData(label=key.capitalize(), key=key, type=type_,
                                                                  options=options, required=False,
                                                                  special_category=False))

    page = browser_page
    acme_in_a_browser(live_server, page, seed, "/crm/contacts", width=1280, height=800)
    value = page.locator("#value")
    assert value.get_attribute("list") is None
    page.select_option("#field", "segment")
    assert value.get_attribute("list") == "options-segment"
    assert page.locator("#options-segment option").evaluate_all("os => os.map(o => o.value)") == ["SMB", "Enterprise"]
    page.select_option("#field", "shoe")
    assert value.get_attribute("list") is None
    # Chosen and sent: the list comes back filtered, the field's options still offered.
    page.select_option("#field", "segment")
    value.fill("smb")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url("**field=segment**")
    assert page.locator("#value").get_attribute("list") == "options-segment"
    assert "No contact matches." in page.content()


def test_no_value_lists_the_contacts_with_none_in_the_field(member, people):
    assert _names(member, field="segment", unset="1") == ["Olga Tester"]
    assert _names(member, field="tier", unset="1") == ["Eva Tester", "Olga Tester", "Petr Tester"]
    page = text(member.get("/t/acme/crm/contacts", query_string={"field": "tier", "unset": "1"}))
    assert '<input type="hidden" name="list_unset" value="1">' in page
    assert 'name="unset" value="1" checked' in page
    export_link = re.search(r'href="(/t/acme/crm/contacts/export\.csv\?[^"]*)"', page).group(1).replace("&amp;", "&")
    rows = list(csv.DictReader(io.StringIO(member.get(export_link).get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r["First name"] for r in rows) == ["Eva", "Olga", "Petr"]
    # A value and "No value" at once, or "No value" of no field: said, and not filtered by.
    both = text(member.get("/t/acme/crm/contacts", query_string={"field": "tier", "value": "SMB", "unset": "1"}))
    assert field_errors(both, "value") == [
        "Tier: Give a value, or tick “No value”, not both. The list is not filtered by it."]
    nothing = text(member.get("/t/acme/crm/contacts", query_string={"unset": "1"}))
    assert field_errors(nothing, "field") == [
        "Choose the custom field to have no value. The list is not filtered by a custom field."]


@pytest.mark.obligation("DPA-B.pseudonymisation")
def test_a_special_category_value_has_no_digest_and_is_found_by_decrypting(web_app, member, acme, people):
    """A digest would show which contacts share a diagnosis: a special category's values carry
    none, on every path that writes them, and the filter decrypts them instead."""
    from datetime import date

    from tenantry.dpa import special_categories
    from tenantry.tenants.crm import csv_import
    from tenantry.tenants.crm.models import CONTACT
    from tests import factories

    def digests(definition_id) -> list:
        with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
            return db.session.scalars(sa.select(CustomValue.digest).where(CustomValue.field_id == definition_id)
                                      .order_by(CustomValue.id)).all()

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        special_categories.record(acme.id, special_categories.AgreementData(
            reference="Annex 3", signed_by="Jan Novák, CEO", signed_on=date(2026, 1, 5), categories=["health"],
            scope="Allergies of event guests"), staff=factories.make_staff("dpo"))
        allergy = custom_fields.create(custom_fields.DefinitionData(
            label="Allergy", key="allergy", type="text", options=[], required=False, special_category=True))
        for first, value in (("Jana", "Peanuts"), ("Petr", "peanuts"), ("Eva", "Pollen")):
            custom_fields.save(contacts.get(people[first]), {allergy.id: value}, only=[allergy])
        checked = csv_import.check(CONTACT, "First name;Surname;Allergy\nIvana;Tester;PEANUTS\n")
        assert not [row.errors for row in checked.rows if row.errors]
        assert csv_import.write(checked) == 1
        allergy_id = allergy.id
    assert digests(allergy_id) == [None] * 4
    assert _names(member, field="allergy", value="peanuts") == ["Ivana Tester", "Jana Tester", "Petr Tester"]

    # The sweep that fills the digests of older values leaves these without.
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.execute(sa.update(CustomValue).values(digest=None))
        db.session.get(SearchIndexBuild, acme.id).version = index_builds.COMPANY_IDS
    while True:
        with in_app(web_app):
            if not index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=5):
                break
    assert digests(allergy_id) == [None] * 4
    assert _names(member, field="segment", value="enterprise") == ["Eva Tester", "Jana Tester"]

    def mark(special: bool) -> None:
        with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
            custom_fields.update(custom_fields.get(allergy_id), custom_fields.DefinitionData(
                label="Allergy", key="allergy", type="text", options=[], required=False, special_category=special))

    # Unmarked, the field's values get their digests at once; marked again, they lose them.
    mark(False)
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests(allergy_id))
    assert _names(member, field="allergy", value="Peanuts ") == ["Ivana Tester", "Jana Tester", "Petr Tester"]
    mark(True)
    assert digests(allergy_id) == [None] * 4
    assert _names(member, field="allergy", value="pollen") == ["Eva Tester"]
