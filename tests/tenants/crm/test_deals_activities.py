"""Deals, pipeline stages and activity timelines through the web UI: validation next to each
field with nothing saved, stage rules, the timeline's order, roles, and raw storage."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import companies, contacts, currencies, custom_fields, stages
from tenantry.tenants.crm.models import Activity, Deal, PipelineStage
from tests.identity.support import count, field_errors, in_app, new_member, new_tenant, text
from tests.platform.crypto.test_storage_canary import _raw_database_text
from tests.tenants.crm.conftest import signed_in


def _stage_ids(web_app, acme) -> dict[str, str]:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        return {s.name: str(s.id) for s in stages.ensure_defaults()}


def _deal_form(web_app, acme, **overrides):
    form = {"title": "Renewal for Jana Nováková", "value": "12500.50", "currency": "czk",
            "expected_close": "2030-06-30", "contact": "", "company": "", "owner": ""}
    if "stage" not in overrides:
        form["stage"] = _stage_ids(web_app, acme)["Lead"]
    return {**form, **overrides}


def _id_from(response, kind: str) -> str:
    match = re.search(rf"/crm/{kind}/([0-9a-f-]{{36}})", response.headers["Location"])
    assert match, response.headers.get("Location")
    return match.group(1)


def test_the_default_pipeline_is_seeded_once_when_deals_are_first_opened(web_app, member, acme):
    assert count(web_app, PipelineStage) == 0
    page = text(member.get("/t/acme/crm/deals"))
    for name in ("Lead", "Qualified", "Proposal", "Negotiation", "Won", "Lost"):
        assert f">{name}</option>" in page
    member.get("/t/acme/crm/deals")
    assert count(web_app, PipelineStage) == 6
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        flags = {s.name: (s.is_won, s.is_lost) for s in stages.ordered()}
    assert flags["Won"] == (True, False) and flags["Lost"] == (False, True) and flags["Lead"] == (False, False)


@pytest.mark.parametrize(("overrides", "field_id", "message"), [
    ({"currency": "XYZ"}, "currency", "ISO 4217"),
    ({"currency": "EURO"}, "currency", "ISO 4217"),
    ({"value": "-5"}, "value", "negative"),
    ({"value": "1000000000000"}, "value", "less than"),
    ({"value": "1e3"}, "value", "amount"),  # no exponents: a typing error more often than not
    ({"value": "1,000", "currency": "BHD"}, "value", "could be a thousand or one"),
    ({"value": "1,23.45"}, "value", "amount"),
    ({"value": "NaN"}, "value", "amount"),
    ({"value": "twelve"}, "value", "amount"),
    ({"value": "100.5", "currency": "JPY"}, "value", "0 decimal places"),
    ({"expected_close": "30.6.2030"}, "expected_close", "YYYY-MM-DD"),
    ({"expected_close": "2030-02-30"}, "expected_close", "YYYY-MM-DD"),
    ({"title": ""}, "title", ""),
])
def test_a_bad_deal_value_is_shown_next_to_its_field_and_nothing_is_saved(
        web_app, member, acme, overrides, field_id, message):
    response = member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, **overrides))
    assert response.status_code == 422
    errors = field_errors(text(response), field_id)
    assert errors and message in errors[0], text(response)
    assert count(web_app, Deal) == 0


@pytest.mark.parametrize(("typed", "currency", "stored"), [
    ("12 500,50", "CZK", "12500.50"), ("12,500", "USD", "12500"), ("1.250,50", "EUR", "1250.50"),
    ("1,250.50", "EUR", "1250.50"), ("1'250.50", "CHF", "1250.50"), ("100.00", "JPY", "100"),
    ("1,5", "CZK", "1.5"), ("1.500", "BHD", None)])
def test_an_amount_is_read_as_people_write_it(web_app, member, acme, typed, currency, stored):
    response = member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, value=typed, currency=currency))
    if stored is None:  # three decimals: a thousand or one and a half? Asked, not guessed.
        assert response.status_code == 422 and "could be a thousand or one" in field_errors(text(response), "value")[0]
        return
    assert response.status_code == 302, field_errors(text(response), "value")
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.scalars(sa.select(Deal.value)).one() == Decimal(stored)


@pytest.mark.obligation("DPA-B.access-control")
def test_a_deal_cannot_point_at_another_tenants_contact_company_stage_or_owner(web_app, member, acme):
    globex = new_tenant(web_app, "globex")
    outsider = new_member(web_app, globex, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, globex.id)):
        their_contact = str(contacts.create(contacts.ContactData(first_name="Greta", last_name="Globex")).id)
        their_company = str(companies.create(companies.CompanyData(name="Globex", country="CZ")).id)
        their_stage = str(stages.ensure_defaults()[0].id)
    with in_app(web_app):
        from tenantry.platform.identity.models import User
        outsider_id = str(db.session.execute(db.select(User.id).where(User.email == outsider.email)).scalar_one())
    for field_id, value in (("contact", their_contact), ("company", their_company), ("stage", their_stage),
                            ("owner", outsider_id)):
        response = member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, **{field_id: value}))
        assert response.status_code == 422, field_id
        assert field_errors(text(response), field_id), field_id
    assert count(web_app, Deal) == 0


def test_deals_by_value_keep_each_currency_together_and_say_so(web_app, member, acme):
    """20 million CZK is less than 5 million EUR: values compare within a currency only, so a
    sort by value groups by currency (by code) and orders each group by its value."""
    for title, value, currency in (("Hall", "20000000", "CZK"), ("Roof", "5000000", "EUR"), ("Gate", "900", "CZK"),
                                   ("Door", "40", "EUR"), ("Lift", "700000", "USD")):
        member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, title=title, value=value, currency=currency))

    def titles(**args):
        html = text(member.get("/t/acme/crm/deals", query_string=args))
        return re.findall(r'<a href="/t/acme/crm/deals/[0-9a-f-]{36}">(.*?)</a>', html)

    assert titles() == titles(sort="-value") == ["Hall", "Gate", "Roof", "Door", "Lift"]
    assert titles(sort="value") == ["Gate", "Hall", "Door", "Roof", "Lift"]
    page = text(member.get("/t/acme/crm/deals"))
    assert '<option value="-value" selected>Currency, then highest value</option>' in page
    assert "Currency, then lowest value" in page and "Value, highest first" not in page


def test_create_show_edit_list_and_delete_deals(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        company_id = str(companies.create(companies.CompanyData(name="Buyer a.s.", country="CZ")).id)
        contact_id = str(contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková")).id)
    ids = _stage_ids(web_app, acme)
    created = member.post("/t/acme/crm/deals/new", data=_deal_form(
        web_app, acme, value="1 250,5", contact=contact_id, company=company_id))
    deal_id = _id_from(created, "deals")
    page = text(member.get(f"/t/acme/crm/deals/{deal_id}"))
    # Shown in the currency's places, grouped, not as the three-place column stores it (1250.500).
    assert "Renewal for Jana Nováková" in page and "1,250.50 CZK" in page and "2030-06-30" in page
    assert "Buyer a.s." in page and "Jana Nováková" in page
    contact_page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert "Renewal for Jana Nováková" in contact_page and "1,250.50 CZK" in contact_page

    member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, title="Small", value="10", currency="EUR",
                                                          expected_close="2030-01-01", stage=ids["Proposal"]))
    member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, title="Big", value="99999",
                                                          expected_close="", stage=ids["Proposal"]))

    def titles(**args):
        html = text(member.get("/t/acme/crm/deals", query_string=args))
        return re.findall(r'<a href="/t/acme/crm/deals/[0-9a-f-]{36}">(.*?)</a>', html)

    assert titles() == ["Big", "Renewal for Jana Nováková", "Small"]
    listed = text(member.get("/t/acme/crm/deals"))
    assert "99,999.00 CZK" in listed and "10.00 EUR" in listed and "1,250.50 CZK" in listed
    assert titles(sort="value") == ["Renewal for Jana Nováková", "Big", "Small"]  # CZK, then EUR
    assert titles(sort="close") == ["Small", "Renewal for Jana Nováková", "Big"]  # no date: last
    assert titles(stage=ids["Proposal"]) == ["Big", "Small"]

    edited = member.post(f"/t/acme/crm/deals/{deal_id}/edit", data=_deal_form(
        web_app, acme, title="Renewal 2031", stage=ids["Won"]))
    assert edited.status_code == 302
    assert "Renewal 2031" in text(member.get(f"/t/acme/crm/deals/{deal_id}"))
    # Deleting the contact keeps the deal, without a contact.
    assert member.post(f"/t/acme/crm/contacts/{contact_id}/delete").status_code == 302
    assert member.get(f"/t/acme/crm/deals/{deal_id}").status_code == 200
    assert member.post(f"/t/acme/crm/deals/{deal_id}/delete").status_code == 302
    assert member.get(f"/t/acme/crm/deals/{deal_id}").status_code == 404
    assert count(web_app, Deal) == 2


def test_deals_filter_by_owner_and_paginate(web_app, member, acme):
    ids = _stage_ids(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        from tenantry.platform.identity.models import Membership
        from tenantry.tenants.crm import deals
        owner = db.session.execute(db.select(Membership)).scalars().first().user_id
        import uuid
        for i in range(27):
            deals.create(deals.DealData(title=f"D{i:02d}", value=Decimal(i), currency="EUR",
                                        stage_id=uuid.UUID(ids["Lead"]), owner_id=owner if i < 3 else None))
    first = text(member.get("/t/acme/crm/deals", query_string={"sort": "value"}))
    second = text(member.get("/t/acme/crm/deals", query_string={"sort": "value", "page": 2}))
    assert ">D00<" in first and ">D24<" in first and ">D25<" not in first and ">D26<" in second
    mine = text(member.get("/t/acme/crm/deals", query_string={"owner": str(owner), "sort": "value"}))
    assert re.findall(r">(D\d\d)</a>", mine) == ["D00", "D01", "D02"]
    # No one's: the other 24; the export and the bulk form keep the choice (as the pager: test_late_deals).
    nobody = text(member.get("/t/acme/crm/deals", query_string={"owner": "nobody", "sort": "value"}))
    assert re.findall(r">(D\d\d)</a>", nobody)[:2] == ["D03", "D04"] and "24 deals" in nobody
    assert '<option value="nobody" selected>Nobody</option>' in nobody
    assert 'href="/t/acme/crm/deals/export.csv?owner=nobody&amp;sort=value"' in nobody
    assert '<input type="hidden" name="list_owner" value="nobody">' in nobody
    exported = member.get("/t/acme/crm/deals/export.csv", query_string={"owner": "nobody"}).get_data(as_text=True)
    assert len(exported.splitlines()) == 1 + 24


def test_admins_add_rename_reorder_and_delete_only_unused_stages(web_app, admin, acme):
    ids = _stage_ids(web_app, acme)
    assert admin.post("/t/acme/crm/stages/new", data={"new-name": "Demo", "new-outcome": "", "new-probability": "30"}).status_code == 302
    duplicate = admin.post("/t/acme/crm/stages/new", data={"new-name": "demo", "new-outcome": "", "new-probability": "30"})
    assert duplicate.status_code == 422 and "already a stage" in field_errors(text(duplicate), "new-name")[0]
    assert admin.post(f"/t/acme/crm/stages/{ids['Lead']}/edit",
                      data={"name": "Inbound lead", "outcome": "", "probability": "10"}).status_code == 302
    clash = admin.post(f"/t/acme/crm/stages/{ids['Lead']}/edit", data={"name": "Won", "outcome": "", "probability": "10"})
    assert clash.status_code == 422 and "already a stage" in text(clash)
    assert admin.post(f"/t/acme/crm/stages/{ids['Qualified']}/move", data={"direction": "up"}).status_code == 302
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        order = [s.name for s in stages.ordered()]
    assert order == ["Qualified", "Inbound lead", "Proposal", "Negotiation", "Demo", "Won", "Lost"]  # open before closed

    deal = admin.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, stage=ids["Proposal"]))
    assert deal.status_code == 302
    refused = admin.post(f"/t/acme/crm/stages/{ids['Proposal']}/delete")
    assert refused.status_code == 422 and "still holds 1 deal" in text(refused)
    assert f'<a href="/t/acme/crm/deals?stage={ids["Proposal"]}">Show its 1 deal</a>' in text(refused)
    assert admin.post(f"/t/acme/crm/stages/{ids['Negotiation']}/delete").status_code == 302
    assert count(web_app, PipelineStage) == 6


def test_a_member_cannot_manage_stages(web_app, member, acme):
    ids = _stage_ids(web_app, acme)
    assert member.get("/t/acme/crm/stages").status_code == 403
    assert member.post("/t/acme/crm/stages/new", data={"new-name": "X"}).status_code == 403
    assert member.post(f"/t/acme/crm/stages/{ids['Lead']}/delete").status_code == 403
    assert count(web_app, PipelineStage) == 6


def _timeline_notes(page: str) -> tuple[list[str], list[str]]:
    """The notes of a detail page's timeline, in its order: those to do, those done."""
    body = page[page.index('id="timeline"'):]
    parts = dict(re.findall(r'<h3 class="timeline-part">([^<]+)</h3>\s*<ol class="timeline">(.*?)</ol>', body, re.S))
    return tuple(re.findall(r'<p class="note">([^<]*)</p>', parts.get(title, "")) for title in ("To do", "Done"))


def test_the_timeline_shows_what_is_to_do_by_due_date_then_what_is_done_and_they_complete_and_delete(
        web_app, member, acme, time_machine):
    # From now, not a fixed date: the member's session was opened at the real time.
    time_machine.move_to(datetime.now(UTC), tick=False)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contact_id = str(contacts.create(contacts.ContactData(first_name="Tim", last_name="Line")).id)
    for i, (kind, due) in enumerate((("call", "2030-02-03"), ("meeting", "2030-02-01"), ("email", ""),
                                     ("task", "2030-02-02"))):
        time_machine.shift(timedelta(minutes=5))
        response = member.post(f"/t/acme/crm/contacts/{contact_id}/activities",
                               data={"kind": kind, "due_on": due, "note": f"note {i}"})
        assert response.status_code == 302
    page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert _timeline_notes(page) == (["note 1", "note 3", "note 0", "note 2"], [])  # by due date, undated last

    bad = member.post(f"/t/acme/crm/contacts/{contact_id}/activities", data={"kind": "fax", "due_on": "tomorrow"})
    assert bad.status_code == 422
    assert field_errors(text(bad), "kind") and "YYYY-MM-DD" in field_errors(text(bad), "due_on")[0]
    assert count(web_app, Activity) == 4

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        ids = {a.reveal("note"): str(a.id) for a in db.session.execute(db.select(Activity)).scalars()}
    for note in ("note 1", "note 3"):  # the one due first is done first
        time_machine.shift(timedelta(minutes=10))
        assert member.post(f"/t/acme/crm/activities/{ids[note]}/done", data={"done": "1"}).status_code == 302
    page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert _timeline_notes(page) == (["note 0", "note 2"], ["note 3", "note 1"])  # history: the last done first
    done_item = page[page.index("note 3") - 900:page.index("note 3")]
    assert 'Done</span> <span class="activity-due">on <time' in done_item  # when it was done,
    assert "due <time" not in done_item  # not when it was due
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        import uuid
        assert db.session.get(Activity, uuid.UUID(ids["note 1"])).done is True
    assert member.post(f"/t/acme/crm/activities/{ids['note 1']}/delete").status_code == 302
    assert "note 1" not in text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert count(web_app, Activity) == 3
    # The contact's timeline goes with the contact.
    member.post(f"/t/acme/crm/contacts/{contact_id}/delete")
    assert count(web_app, Activity) == 0


def test_each_timeline_button_names_its_activity(web_app, member, acme):
    """Seven activities make seven "Edit", "Mark done" and "Delete" buttons: each says which
    activity it acts on (to a screen reader, in a visually hidden part of its text)."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contact_id = str(contacts.create(contacts.ContactData(first_name="Tim", last_name="Line")).id)
    for i in range(7):
        member.post(f"/t/acme/crm/contacts/{contact_id}/activities",
                    data={"kind": "call", "due_on": f"2030-02-0{i % 3 + 1}", "note": f"Call about offer {i}"})
    page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    timeline = page[page.index('id="timeline"'):]
    names = [re.sub(r"<[^>]+>", "", inner).strip()
             for inner in re.findall(r'<(?:a|button) [^>]*class="btn[^"]*btn-small[^"]*"[^>]*>(.*?)</(?:a|button)>',
                                     timeline, re.S)]
    assert len(names) == 21 and len(set(names)) == 21
    assert "Mark done call due 2030-02-01: Call about offer 0" in names
    assert '<span class="visually-hidden"> call due 2030-02-01: Call about offer 0</span>' in timeline


def test_date_and_time_pickers_have_no_hint_of_another_format(web_app, member, acme):
    """A type=date or type=time input shows the browser's own format (12/06/2026 in en-US): a
    hint saying YYYY-MM-DD or HH:MM beside it would contradict what one sees."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contact_id = contacts.create(contacts.ContactData(first_name="Tim", last_name="Line")).id
        custom_fields.create(custom_fields.DefinitionData(label="Met on", key="met_on", type="date", options=[],
                                                          required=False, special_category=False))
    pages = {path: text(member.get(path)) for path in (
        "/t/acme/crm/deals/new", f"/t/acme/crm/contacts/{contact_id}", f"/t/acme/crm/contacts/{contact_id}/edit")}
    pickers = 0
    for path, page in pages.items():
        for tag in re.findall(r'<input [^>]*type="(?:date|time)"[^>]*>', page):
            pickers += 1
            hint_id = re.search(r'aria-describedby="([^"]*)"', tag)
            hints = [re.search(rf'<p class="hint" id="{i}">([^<]*)</p>', page) for i in (hint_id[1].split() if hint_id else [])]
            said = " ".join(h[1] for h in hints if h)
            assert "YYYY" not in said and "HH:MM" not in said, (path, tag, said)
    assert pickers == 4  # the close date; the activity's date and time; the custom date
    assert 'id="due_time-hint">Optional; needs a date.</p>' in pages[f"/t/acme/crm/contacts/{contact_id}"]


def test_a_contacts_and_a_companys_deals_show_their_stage_and_a_new_one_starts_filled_in(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        firm = companies.create(companies.CompanyData(name="Buyer a.s.", country="CZ",
                                                      iban="CZ6508000000192000145399"))
        db.session.flush()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková", company_id=firm.id))
        firm_id, jana_id = str(firm.id), str(jana.id)
    ids = _stage_ids(web_app, acme)
    member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, title="Roof", stage=ids["Won"],
                                                          contact=jana_id, company=firm_id))
    for path, link in ((f"/t/acme/crm/contacts/{jana_id}", f"/t/acme/crm/deals/new?contact={jana_id}&amp;company={firm_id}"),
                       (f"/t/acme/crm/companies/{firm_id}", f"/t/acme/crm/deals/new?company={firm_id}")):
        page = text(member.get(path))
        deals_part = page[page.index('id="deals-h"'):page.index('id="timeline"')]
        assert ">Roof</a>" in deals_part and '<span class="badge badge-ok">Won</span>' in deals_part
        assert f'<a class="btn btn-secondary btn-small" href="{link}">New deal<span class="visually-hidden">' in deals_part
    form = text(member.get(f"/t/acme/crm/deals/new?contact={jana_id}&company={firm_id}"))
    assert f'<option selected value="{jana_id}">Jana Nováková</option>' in form  # the contact chosen already
    assert f'<option selected value="{firm_id}">Buyer a.s.</option>' in form
    # The IBAN, stored without spaces, reads in groups of four, as on a statement.
    assert "CZ65 0800 0000 1920 0014 5399" in text(member.get(f"/t/acme/crm/companies/{firm_id}"))


def test_activities_on_a_company_and_a_deal(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        company_id = str(companies.create(companies.CompanyData(name="Timeline a.s.", country="CZ")).id)
    deal_id = _id_from(member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme)), "deals")
    assert member.post(f"/t/acme/crm/companies/{company_id}/activities",
                       data={"kind": "meeting", "note": "Company meeting"}).status_code == 302
    assert member.post(f"/t/acme/crm/deals/{deal_id}/activities",
                       data={"kind": "task", "note": "Send offer"}).status_code == 302
    assert "Company meeting" in text(member.get(f"/t/acme/crm/companies/{company_id}"))
    assert "Send offer" in text(member.get(f"/t/acme/crm/deals/{deal_id}"))
    member.post(f"/t/acme/crm/deals/{deal_id}/delete")
    member.post(f"/t/acme/crm/companies/{company_id}/delete")
    assert count(web_app, Activity) == 0


@pytest.mark.obligation("DPA-B.access-control")
def test_a_viewer_reads_deals_and_timelines_and_gets_403_on_every_write(web_app, member, acme):
    deal_id = _id_from(member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme)), "deals")
    member.post(f"/t/acme/crm/deals/{deal_id}/activities", data={"kind": "call", "note": "Seen"})
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        activity_id = str(db.session.execute(db.select(Activity.id)).scalar_one())
    viewer = signed_in(web_app, acme, "viewer")
    assert viewer.get("/t/acme/crm/deals").status_code == 200
    page = text(viewer.get(f"/t/acme/crm/deals/{deal_id}"))
    assert "Seen" in page and "Add activity" not in page and "New deal" not in text(viewer.get("/t/acme/crm/deals"))
    before = (count(web_app, Deal), count(web_app, Activity), count(web_app, PipelineStage))
    stage_id = _stage_ids(web_app, acme)["Lead"]
    for method, url in [
        ("GET", "/t/acme/crm/deals/new"), ("POST", "/t/acme/crm/deals/new"),
        ("GET", f"/t/acme/crm/deals/{deal_id}/edit"), ("POST", f"/t/acme/crm/deals/{deal_id}/edit"),
        ("POST", f"/t/acme/crm/deals/{deal_id}/delete"), ("POST", f"/t/acme/crm/deals/{deal_id}/activities"),
        ("POST", f"/t/acme/crm/activities/{activity_id}/done"), ("POST", f"/t/acme/crm/activities/{activity_id}/delete"),
        ("GET", "/t/acme/crm/stages"), ("POST", "/t/acme/crm/stages/new"),
        ("POST", f"/t/acme/crm/stages/{stage_id}/delete"),
    ]:
        assert viewer.open(url, method=method, data=_deal_form(web_app, acme)).status_code == 403, (method, url)
    assert (count(web_app, Deal), count(web_app, Activity), count(web_app, PipelineStage)) == before


@pytest.mark.obligation("TT-aes256", "DPA-B.pseudonymisation")
def test_a_deal_title_and_activity_note_canary_is_absent_from_the_raw_database(web_app, member, acme, database):
    canary = "Canary" + secrets.token_hex(6)
    control_slug = "ctl-" + secrets.token_hex(4)
    new_tenant(web_app, control_slug)
    deal_id = _id_from(member.post("/t/acme/crm/deals/new", data=_deal_form(
        web_app, acme, title=f"Deal with {canary}")), "deals")
    assert member.post(f"/t/acme/crm/deals/{deal_id}/activities",
                       data={"kind": "call", "note": f"Called {canary}.lower"}).status_code == 302
    assert canary in text(member.get(f"/t/acme/crm/deals/{deal_id}"))
    with in_app(web_app, commit=False):
        db.session.remove()
    raw = _raw_database_text(database)
    assert control_slug.encode() in raw, "the raw read does not see plaintext: the check would prove nothing"
    assert canary.encode() not in raw and canary.encode().hex().encode() not in raw


@pytest.mark.parametrize(("value", "code", "shown"), [
    (Decimal("1250.500"), "CZK", "1,250.50 CZK"),
    (Decimal("0.000"), "EUR", "0.00 EUR"),
    (Decimal("1500000.000"), "JPY", "1,500,000 JPY"),
    (Decimal("12.345"), "BHD", "12.345 BHD"),
    (Decimal("999999999999.990"), "USD", "999,999,999,999.99 USD"),
    (Decimal("7.250"), "XYZ", "7.25 XYZ"),  # a code no longer listed: its own places, nothing invented
    (None, "EUR", "—"),
])
def test_amounts_read_in_their_currencys_places_with_thousands_grouped(value, code, shown):
    assert currencies.format_amount(value, code) == shown


def test_the_timeline_marks_an_open_activity_past_its_due_date(web_app, member, acme):
    from .test_dashboard import _seed

    _ids, subjects = _seed(web_app, acme.id)
    deal = text(member.get(f"/t/acme/crm/deals/{subjects['gates']}"))
    assert deal.count("badge badge-danger\">Overdue") == 1  # "Send the revised quote", two days late
    # Jana's: one done a day late, one due today, the rest later or undated: none overdue.
    assert "Overdue" not in text(member.get(f"/t/acme/crm/contacts/{subjects['jana']}"))
