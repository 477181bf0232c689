"""What the CRM's lists and their buttons say: an empty list says why, once; a change returns to
the row it was made on; a delete's confirmation names what goes with it."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, contacts
from tests.identity.support import in_app, text


def _contact_with_activity(web_app, acme, *, done: bool) -> tuple[str, str]:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        person = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        db.session.flush()
        activity = activities.create("contact", person.id, activities.ActivityData(kind="call", note="Ring"))
        if done:
            activities.complete(activity)
        return str(person.id), str(activity.id)


def test_the_default_activity_list_of_a_workspace_without_any_says_how_to_add_one(member):
    html = text(member.get("/t/acme/crm/activities"))
    assert "No activities yet: add one from a contact, company or deal." in html
    assert "No activity matches." not in html and "Clear filters" not in html


def test_the_default_activity_list_with_all_done_says_so_and_offers_them_all(web_app, member, acme):
    _contact_with_activity(web_app, acme, done=True)
    html = text(member.get("/t/acme/crm/activities"))
    assert "Nothing open: every activity is done." in html
    assert '<a href="/t/acme/crm/activities?state=all">Show all activities</a>' in html
    assert "No activities yet" not in html
    filtered = text(member.get("/t/acme/crm/activities?kind=meeting"))
    assert "No activity matches." in filtered and "Clear filters" in filtered


def test_a_new_deal_starts_in_the_workspace_country_s_currency(web_app, member):
    from tests.identity.support import new_tenant
    from tests.tenants.crm.conftest import signed_in

    assert _currency(text(member.get("/t/acme/crm/deals/new"))) == "CZK"  # acme is in CZ
    elsewhere = new_tenant(web_app, "fabrik", country="DE")
    assert _currency(text(signed_in(web_app, elsewhere, "member").get("/t/fabrik/crm/deals/new"))) == "EUR"
    deal = member.post("/t/acme/crm/deals/new", data={"title": "", "currency": "USD"})
    assert _currency(text(deal)) == "USD"  # what was sent is kept


def _currency(html: str) -> str:
    import re

    tag = re.search(r'<input[^>]*name="currency"[^>]*>', html).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)


def test_mark_done_on_the_activity_list_returns_to_where_the_row_was(web_app, member, acme):
    import re

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        person = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        db.session.flush()
        ids = [str(activities.create("contact", person.id, activities.ActivityData(kind="call", note=f"n{i}")).id)
               for i in range(3)]
    html = text(member.get("/t/acme/crm/activities"))
    rows = re.findall(r'<tr role="row" id="a-([0-9a-f-]{36})" tabindex="-1">', html)
    assert sorted(rows) == sorted(ids)
    forms = re.findall(r'action="/t/acme/crm/activities/([0-9a-f-]{36})/done".*?</form>', html, re.S)
    assert len(forms) == 3
    first, second, third = rows
    sent = {"done": "1", "back": "activities", "list_at": second}
    response = member.post(f"/t/acme/crm/activities/{first}/done", data=sent)
    assert response.headers["Location"] == f"/t/acme/crm/activities#a-{second}"
    # the form names the next row as where to return (it leaves the list of open ones); the last, the one before
    page = text(member.get("/t/acme/crm/activities"))
    form_of = {m.group(1): m.group(0) for m in re.finditer(r'activities/([0-9a-f-]{36})/done".*?</form>', page, re.S)}
    assert f'name="list_at" value="{third}"' in form_of[second]
    assert f'name="list_at" value="{second}"' in form_of[third]
    # in the list of all, the row itself stays
    everything = text(member.get("/t/acme/crm/activities?state=all"))
    own = {m.group(1): m.group(0) for m in re.finditer(r'activities/([0-9a-f-]{36})/done".*?</form>', everything, re.S)}
    assert f'name="list_at" value="{first}"' in own[first]
    bad = member.post(f"/t/acme/crm/activities/{second}/done",
                      data={"done": "1", "back": "activities", "list_at": "https://evil.example/"})
    assert bad.headers["Location"] == "/t/acme/crm/activities"


def test_mark_done_focuses_the_row_it_returns_to_in_a_browser(live_server, browser_page):
    from tests.tenants.crm.conftest import acme_in_a_browser

    def seed(app, tenant):
        with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
            person = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
            db.session.flush()
            return [str(activities.create("contact", person.id, activities.ActivityData(kind="task", note=f"n{i}")).id)
                    for i in range(30)]

    page = browser_page
    acme_in_a_browser(live_server, page, seed, "/crm/activities", width=1366, height=800)
    rows = page.locator("table.data tbody tr")
    tenth, eleventh = rows.nth(9).get_attribute("id"), rows.nth(10).get_attribute("id")
    rows.nth(9).get_by_role("button", name="Mark done").click()
    page.wait_for_url(f"**/crm/activities?*#{eleventh}")
    page.wait_for_load_state()
    assert page.locator(f"#{tenth}").count() == 0
    assert page.evaluate("document.activeElement.id") == eleventh
    assert page.evaluate("window.scrollY") > 0


def _confirm(html: str, action: str) -> str:
    import html as markup
    import re

    return markup.unescape(re.search(rf'action="[^"]*/{action}" class="inline" data-confirm="([^"]*)"', html).group(1))


def test_delete_confirmations_name_the_record_and_what_goes_with_it(web_app, member, acme):
    from decimal import Decimal

    from tenantry.tenants.crm import companies, deals, stages

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        lead = stages.ensure_defaults()[0]
        firm = companies.create(companies.CompanyData(name="Sklárna Nový Bor", country="CZ"))
        empty = companies.create(companies.CompanyData(name="Prázdná s.r.o.", country="CZ"))
        db.session.flush()
        person = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková", company_id=firm.id))
        db.session.flush()
        for note in ("a", "b"):
            activities.create("contact", person.id, activities.ActivityData(kind="call", note=note))
        deal = deals.create(deals.DealData(title="Okna 2025", value=Decimal(1), currency="CZK", stage_id=lead.id,
                                           contact_id=person.id, company_id=firm.id))
        db.session.flush()
        activities.create("deal", deal.id, activities.ActivityData(kind="task"))
        ids = {"contact": person.id, "firm": firm.id, "empty": empty.id, "deal": deal.id}

    contact_page = text(member.get(f"/t/acme/crm/contacts/{ids['contact']}"))
    assert _confirm(contact_page, "delete") == (
        "Delete Jana Nováková and their 2 activities? Their deal stays, without a contact.")
    assert _confirm(text(member.get(f"/t/acme/crm/deals/{ids['deal']}")), "delete") == (
        "Delete the deal “Okna 2025” and its 1 activity?")
    assert _confirm(text(member.get(f"/t/acme/crm/companies/{ids['firm']}")), "delete") == (
        "Delete Sklárna Nový Bor? Its 1 contact and 1 deal stay, without a company.")
    assert _confirm(text(member.get(f"/t/acme/crm/companies/{ids['empty']}")), "delete") == "Delete Prázdná s.r.o.?"

    gone = member.post(f"/t/acme/crm/companies/{ids['empty']}/delete", follow_redirects=True)
    assert "Company deleted." in text(gone) and "contact(s)" not in text(gone) and "0 contact" not in text(gone)
    gone = member.post(f"/t/acme/crm/companies/{ids['firm']}/delete", follow_redirects=True)
    assert "Company deleted. Its contact stays, without a company." in text(gone)


def test_an_empty_company_list_says_why_once_and_offers_to_clear_the_search(member):
    none = text(member.get("/t/acme/crm/companies"))
    assert "No companies yet." in none and "0 companies." not in none
    searched = text(member.get("/t/acme/crm/companies?q=Sklarna"))
    assert searched.count("No company matches.") == 1 and "0 companies." not in searched
    assert '<a href="/t/acme/crm/companies">Clear the search</a>' in searched
    filtered = text(member.get("/t/acme/crm/companies?q=Sklarna&has_contacts=yes"))
    assert '<a href="/t/acme/crm/companies">Clear filters</a>' in filtered
