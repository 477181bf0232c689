"""Choosing a contact or a company (crm/pickers.py): a select while the workspace has few, a
search box over the blind indexes once it has many, which puts only the chosen name into the
page, answers the combobox as one types, settles typed text when the form is sent, and records
every name it reveals as a read."""

from __future__ import annotations

import html as html_text
import re
import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import companies, contacts, pickers, stages
from tenantry.tenants.crm.models import Deal
from tests.identity.support import field_errors, in_app, new_tenant, text
from tests.tenants.crm.conftest import signed_in

PEOPLE = [("Jana", "Nováková", "jana@example.com"), ("Jana", "Svobodová", "jana.s@example.com"),
          ("Petr", "Novák", "petr@example.com"), ("Eva", "Černá", "eva@example.com")]


def _seed(web_app, tenant) -> dict[str, str]:
    """The PEOPLE (key: e-mail) and two companies (key: name), with the default pipeline."""
    ids = {}
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        for first, last, email in PEOPLE:
            ids[email] = str(contacts.create(contacts.ContactData(first_name=first, last_name=last,
                                                                  emails=[email])).id)
        for name, number in (("Železárny Nový Bor", "25596641"), ("Sklárna Bor", "")):
            ids[name] = str(companies.create(companies.CompanyData(name=name, country="CZ",
                                                                   company_number=number)).id)
        ids["stage"] = str(stages.ensure_defaults()[0].id)
    return ids


@pytest.fixture
def many(monkeypatch):
    """Every workspace counts as one with many contacts and companies."""
    monkeypatch.setattr(pickers, "SELECT_UP_TO", 1)


def _deal(stage: str, **overrides) -> dict:
    return {"title": "Renewal", "value": "100", "currency": "EUR", "stage": stage, "expected_close": "",
            "contact": "", "company": "", "owner": "", **overrides}


def _errors(response, field_id: str) -> list[str]:
    return [html_text.unescape(e) for e in field_errors(text(response), field_id)]


def _reads(web_app, tenant_id, action: str) -> list[list[str]]:
    with in_app(web_app, commit=False), all_tenants():
        events = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action == action).order_by(AuditEvent.id)).all()
        return [sorted(e.details["ids"]) for e in events]


@pytest.mark.obligation("DPA-B.monitoring")
def test_a_few_are_a_select_and_its_names_are_recorded_as_read(web_app, member, acme):
    ids = _seed(web_app, acme)
    html = text(member.get("/t/acme/crm/deals/new"))
    assert '<select id="contact" name="contact">' in html and "data-picker" not in html
    assert html.index("Eva Černá") < html.index("Jana Nováková") < html.index("Petr Novák")
    assert _reads(web_app, acme.id, "crm.contact.listed") == [sorted(ids[e] for _, _, e in PEOPLE)]
    assert _reads(web_app, acme.id, "crm.company.listed") == [sorted([ids["Železárny Nový Bor"], ids["Sklárna Bor"]])]


@pytest.mark.obligation("DPA-B.monitoring")
def test_many_are_a_search_box_that_holds_only_the_chosen_name(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    html = text(member.get(f"/t/acme/crm/deals/new?contact={ids['petr@example.com']}"))
    assert 'data-picker="/t/acme/crm/contacts/lookup"' in html
    assert f'<input type="hidden" name="contact" value="{ids["petr@example.com"]}">' in html
    box = re.search(r'<input type="search" id="contact"[^>]*>', html).group(0)
    assert 'name="contact_search"' in box and 'value="Petr Novák"' in box and 'aria-describedby="contact-hint"' in box
    assert "<label for=\"contact\">Contact</label>" in html
    for other in ("Nováková", "Svobodová", "Černá"):
        assert other not in html
    assert _reads(web_app, acme.id, "crm.contact.listed") == [[ids["petr@example.com"]]]
    assert _reads(web_app, acme.id, "crm.company.listed") == []  # nothing chosen, nothing shown


def test_the_lookup_finds_whole_words_without_accents_and_records_what_it_shows(web_app, member, acme):
    ids = _seed(web_app, acme)
    got = member.get("/t/acme/crm/contacts/lookup?q=novakova").get_json()
    assert got == {"items": [{"id": ids["jana@example.com"], "label": "Jana Nováková", "hint": "jana@example.com"}],
                   "total": 1}
    jana = member.get("/t/acme/crm/contacts/lookup?q=JANA").get_json()
    assert [i["label"] for i in jana["items"]] == ["Jana Nováková", "Jana Svobodová"] and jana["total"] == 2
    assert member.get("/t/acme/crm/contacts/lookup?q=petr@example.com").get_json()["items"][0]["label"] == "Petr Novák"
    assert member.get("/t/acme/crm/contacts/lookup?q=nov").get_json() == {"items": [], "total": 0}  # whole words only
    assert member.get("/t/acme/crm/contacts/lookup?q=%20").get_json() == {"items": [], "total": 0}
    firms = member.get("/t/acme/crm/companies/lookup?q=bor").get_json()
    assert [(i["label"], i["hint"]) for i in firms["items"]] == [("Sklárna Bor", ""), ("Železárny Nový Bor", "25596641")]
    assert _reads(web_app, acme.id, "crm.contact.listed") == [
        [ids["jana@example.com"]], sorted([ids["jana@example.com"], ids["jana.s@example.com"]]),
        [ids["petr@example.com"]]]
    with in_app(web_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.company.listed")).one()
    assert event.details["picker"] is True and event.details["search"] is True and event.details["via"] == "web"


def test_the_lookup_caps_its_answer_and_says_how_many_match(web_app, member, acme, monkeypatch):
    _seed(web_app, acme)
    monkeypatch.setattr(pickers, "LOOKUP_LIMIT", 1)
    assert member.get("/t/acme/crm/contacts/lookup?q=jana").get_json()["total"] == 2
    assert len(member.get("/t/acme/crm/contacts/lookup?q=jana").get_json()["items"]) == 1


def test_the_lookup_never_offers_restricted_contacts_or_another_workspaces(web_app, member, acme):
    ids = _seed(web_app, acme)
    other = new_tenant(web_app, "other", country="CZ")
    _seed(web_app, other)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contacts.get(uuid.UUID(ids["petr@example.com"])).restricted_at = sa.func.now()
    assert member.get("/t/acme/crm/contacts/lookup?q=petr").get_json() == {"items": [], "total": 0}
    jana = member.get("/t/acme/crm/contacts/lookup?q=jana").get_json()
    assert {i["id"] for i in jana["items"]} == {ids["jana@example.com"], ids["jana.s@example.com"]}
    assert member.get("/t/other/crm/contacts/lookup?q=jana").status_code == 404


def test_a_viewer_may_look_up_and_a_stranger_may_not(web_app, acme):
    _seed(web_app, acme)
    viewer = signed_in(web_app, acme, "viewer")
    assert viewer.get("/t/acme/crm/contacts/lookup?q=jana").get_json()["total"] == 2
    assert web_app.test_client().get("/t/acme/crm/contacts/lookup?q=jana").status_code in (302, 401)


def _links_of_the_deal(web_app) -> tuple[str, str]:
    """(contact id, company id) of the one deal saved."""
    with in_app(web_app, commit=False), all_tenants():
        deal = db.session.scalars(sa.select(Deal)).one()
        return str(deal.contact_id), str(deal.company_id)


def test_the_chosen_id_is_saved(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=ids["jana.s@example.com"],
                                                           contact_search="Jana Svobodová",
                                                           company=ids["Sklárna Bor"], company_search="Sklárna Bor"))
    assert sent.status_code == 302
    assert _links_of_the_deal(web_app) == (ids["jana.s@example.com"], ids["Sklárna Bor"])


def test_typed_text_with_one_match_is_taken_without_a_script(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact_search="  eva@example.com ",
                                                           company_search="25596641"))
    assert sent.status_code == 302
    assert _links_of_the_deal(web_app) == (ids["eva@example.com"], ids["Železárny Nový Bor"])


def test_without_a_script_the_box_wins_over_the_id_the_page_carried(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    eva, petr = ids["eva@example.com"], ids["petr@example.com"]
    # The page came with Eva chosen; the box was edited to another person, or emptied.
    for typed, expected in (("petr@example.com", petr), ("Eva Černá", eva), ("", None)):
        sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], title=f"For {typed or 'nobody'}",
                                                               contact=eva, contact_search=typed))
        assert sent.status_code == 302, _errors(sent, "contact")
        with in_app(web_app, commit=False), all_tenants():
            deal = db.session.scalars(sa.select(Deal).order_by(Deal.created_at.desc(), Deal.id)).first()
            assert (str(deal.contact_id) if deal.contact_id else None) == expected, typed
            db.session.delete(deal)
            db.session.commit()


def test_a_form_sent_without_the_box_keeps_the_id(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=ids["eva@example.com"]))
    assert sent.status_code == 302
    with in_app(web_app, commit=False), all_tenants():
        assert str(db.session.scalars(sa.select(Deal)).one().contact_id) == ids["eva@example.com"]


@pytest.mark.parametrize(("typed", "message"), [
    ("jana", "2 contacts match “jana”: choose one from the list"),
    ("nobody", "No contact matches “nobody”."),
    ("nov", "No contact matches “nov”."),
])
def test_typed_text_with_no_single_match_is_an_error_next_to_the_field(web_app, member, acme, many, typed, message):
    ids = _seed(web_app, acme)
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact_search=typed, title="Kept"))
    assert sent.status_code == 422
    html = text(sent)
    assert any(message in error for error in _errors(sent, "contact"))
    box = re.search(r'<input type="search" id="contact"[^>]*>', html).group(0)
    assert f'value="{typed}"' in box and 'aria-invalid="true"' in box and "contact-err" in box
    assert 'value="Kept"' in html  # the rest of the form is kept
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.scalars(sa.select(Deal)).all() == []


@pytest.mark.parametrize("bad", ["not-an-id", "00000000-0000-0000-0000-000000000000"])
def test_an_id_that_is_no_contact_of_the_workspace_is_refused(web_app, member, acme, many, bad):
    ids = _seed(web_app, acme)
    other = new_tenant(web_app, "other", country="CZ")
    theirs = _seed(web_app, other)["eva@example.com"]
    for value in (bad, theirs):
        sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=value, contact_search="Eva"))
        assert sent.status_code == 422
        assert _errors(sent, "contact") == ["Choose one of this workspace's contacts."]


def test_a_select_refuses_another_workspace_s_record_in_the_same_words(web_app, member, acme):
    ids = _seed(web_app, acme)
    theirs = _seed(web_app, new_tenant(web_app, "other", country="CZ"))
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=theirs["eva@example.com"],
                                                            company=theirs["Sklárna Bor"]))
    assert sent.status_code == 422
    assert 'name="contact_search"' not in text(sent)  # a small workspace: selects, not search boxes
    assert _errors(sent, "contact") == ["Choose one of this workspace's contacts."]
    assert _errors(sent, "company") == ["Choose one of this workspace's companies."]


def test_a_restricted_contact_cannot_be_chosen_by_id(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contacts.get(uuid.UUID(ids["eva@example.com"])).restricted_at = sa.func.now()
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=ids["eva@example.com"]))
    assert sent.status_code == 422
    assert _errors(sent, "contact") == ["Choose one of this workspace's contacts."]


def test_the_contact_form_and_its_company(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    html = text(member.get(f"/t/acme/crm/contacts/new?company={ids['Sklárna Bor']}"))
    assert 'data-picker="/t/acme/crm/companies/lookup"' in html and 'value="Sklárna Bor"' in html
    assert "Železárny" not in html
    sent = member.post("/t/acme/crm/contacts/new", data={"first_name": "Iva", "last_name": "Malá", "emails": "",
                                                         "phones": "", "address": "", "position": "", "notes": "",
                                                         "tags": "", "company": "", "company_search": "železárny"})
    assert sent.status_code == 302
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        iva = contacts.get(uuid.UUID(sent.headers["Location"].rsplit("/", 1)[1]))
        assert str(iva.company_id) == ids["Železárny Nový Bor"]


def test_the_contact_lists_company_filter(web_app, member, acme, many):
    ids = _seed(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.get(uuid.UUID(ids["jana@example.com"]))
        jana.company_id = uuid.UUID(ids["Sklárna Bor"])
    html = text(member.get(f"/t/acme/crm/contacts?company={ids['Sklárna Bor']}"))
    assert 'value="Sklárna Bor"' in html and "1 contact." in html and "Železárny" not in html
    typed = text(member.get("/t/acme/crm/contacts?company=&company_search=sklárna"))
    assert "1 contact." in typed and "Jana Nováková" in typed
    unknown = member.get("/t/acme/crm/contacts?company=&company_search=bor")
    assert unknown.status_code == 200
    html = text(unknown)
    assert "2 companies match “bor”" in html and "The list is not filtered by company." in html
    assert "4 contacts." in html
    box = re.search(r'<input type="search" id="company"[^>]*>', html).group(0)
    assert 'aria-describedby="company-err"' in box and 'aria-invalid="true"' in box


def test_a_picker_page_passes_the_accessibility_checks(web_app, member, acme, many):
    from tests.test_accessibility import _problems

    ids = _seed(web_app, acme)
    for url in ("/t/acme/crm/deals/new", f"/t/acme/crm/contacts/new?company={ids['Sklárna Bor']}",
                "/t/acme/crm/contacts?company=&company_search=bor"):
        assert _problems(member.get(url)) == [], url
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact_search="jana"))
    assert _problems(sent) == []


@pytest.mark.parametrize("size", ["few", "many"])
def test_a_deals_contact_restricted_since_stays_linked_through_an_edit_without_its_name(
        web_app, member, acme, monkeypatch, size):
    if size == "many":
        monkeypatch.setattr(pickers, "SELECT_UP_TO", 1)
    ids = _seed(web_app, acme)
    sent = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=ids["eva@example.com"],
                                                           contact_search="Eva Černá"))
    deal_id = sent.headers["Location"].rsplit("/", 1)[1]
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contacts.get(uuid.UUID(ids["eva@example.com"])).restricted_at = sa.func.now()
    shown = text(member.get(f"/t/acme/crm/deals/{deal_id}"))
    assert "Černá" not in shown and "Restricted contact" in shown
    form = text(member.get(f"/t/acme/crm/deals/{deal_id}/edit"))
    assert "Černá" not in form
    if size == "few":
        assert f'<option selected value="{ids["eva@example.com"]}">{pickers.KEPT_LABEL}</option>' in form
    else:
        assert f'value="{pickers.KEPT_LABEL}"' in form and f'value="{ids["eva@example.com"]}"' in form
    edit = _deal(ids["stage"], title="Renewal, new terms", contact=ids["eva@example.com"])
    if size == "many":
        edit["contact_search"] = pickers.KEPT_LABEL
    assert member.post(f"/t/acme/crm/deals/{deal_id}/edit", data=edit).status_code == 302
    with in_app(web_app, commit=False), all_tenants():
        assert str(db.session.get(Deal, uuid.UUID(deal_id)).contact_id) == ids["eva@example.com"]
    # Another deal cannot choose the restricted contact.
    refused = member.post("/t/acme/crm/deals/new", data=_deal(ids["stage"], contact=ids["eva@example.com"]))
    assert refused.status_code == 422
