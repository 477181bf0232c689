"""The CRM lists on a phone put their records first: the search on top, the other filters
folded into "Filters (n active)" (open when one is in force, and on a laptop), the changes to
the records ticked folded until a box is ticked; a list that shows nothing says why and how to
see everything again. Laptops see the filters and each row's box in a column of its own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, companies, contacts, deals, stages
from tests.identity.support import in_app, text
from tests.tenants.crm.conftest import acme_in_a_browser


def _seed(app, tenant):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        today = local_time.today()
        firm = companies.create(companies.CompanyData(name="Moravská strojírna a slévárna, akciová společnost",
                                                      country="CZ"))
        db.session.flush()
        for i in range(12):
            person = contacts.create(contacts.ContactData(
                first_name="Alžběta", last_name=f"Procházková-Kučerová {i}", company_id=firm.id,
                emails=[f"alzbeta.{i}@moravska-strojirna.example"], phones=["+420603111222"], tags=["partner"]))
            db.session.flush()
            deal = deals.create(deals.DealData(
                title=f"Modernizace osvětlení výrobní haly, druhá etapa včetně nouzového osvětlení {i}",
                value=Decimal("18730000.50"), currency="CZK", stage_id=stages.ensure_defaults()[0].id,
                expected_close=today - timedelta(days=2), contact_id=person.id, company_id=firm.id))
            activities.create("deal", deal.id, activities.ActivityData(kind="call", due_on=today - timedelta(days=1)))


_FIRST_ROW = """() => document.querySelector('table.data tbody tr').getBoundingClientRect().top + window.scrollY"""


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/crm/contacts", "/crm/deals", "/crm/activities"])
def test_on_a_phone_the_records_come_first_and_the_changes_wait_for_a_tick(live_server, browser_page, path):
    page = browser_page
    acme_in_a_browser(live_server, page, _seed, path, width=390, height=844)
    filters = page.locator("details.list-filters")
    assert not filters.evaluate("d => d.open") and filters.locator("summary").inner_text() == "Filters"
    assert page.get_by_role("searchbox", name="Search").is_visible()
    assert page.evaluate(_FIRST_ROW) < 844  # the first record on the first screen
    delete = page.locator("#bulk").get_by_role("button", name="Delete")
    assert not delete.is_visible()  # no red Delete while nothing is ticked
    assert page.locator(".bulk-count").inner_text() == "None ticked yet."
    box = page.locator("input.pick[form=bulk]").first
    first = page.locator("table.data tbody tr").first
    assert box.bounding_box()["x"] < first.locator("td.card-title").bounding_box()["x"]  # the box before the title
    box.check()
    assert delete.is_visible() and page.locator(".bulk-count").inner_text() == "1 ticked."
    box.uncheck()
    assert not delete.is_visible()
    filters.locator("summary").click()
    assert page.get_by_label("Sort by").is_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


@pytest.mark.browser
def test_a_filter_in_force_shows_the_filters_open_with_their_count(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _seed, "/crm/deals?close=late&next=none", width=390, height=844)
    filters = page.locator("details.list-filters")
    assert filters.evaluate("d => d.open") and filters.locator("summary").inner_text() == "Filters (2 active)"
    assert page.get_by_label("Close date").is_visible()


@pytest.mark.browser
def test_on_a_laptop_filters_are_open_and_titles_get_room_beside_their_box(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _seed, "/crm/deals", width=1366, height=800)
    filters = page.locator("details.list-filters")
    assert filters.evaluate("d => d.open") and not filters.locator("summary").is_visible()
    assert page.get_by_label("Stage", exact=True).first.is_visible()
    first = page.locator("table.data tbody tr").first
    tick, title = first.locator("td.tick").bounding_box(), first.locator("td.card-title").bounding_box()
    assert tick["width"] < 60 and title["width"] >= 192  # its own narrow column; the title a readable width
    assert first.locator("td.card-title a").bounding_box()["height"] < 100  # three lines, not seven
    wrap = page.evaluate("[...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth <= w.clientWidth)")
    assert wrap == [True]
    page.goto(f"{live_server}/t/acme/crm/contacts")
    first = page.locator("table.data tbody tr").first
    assert first.locator('td[data-label="E-mail"] a').get_attribute("href").startswith("mailto:alzbeta.")
    for width, height in ((1366, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        link = first.locator('td[data-label="Phone"] a')
        assert link.get_attribute("href") == "tel:+420603111222"
        assert link.evaluate("a => a.getClientRects().length") == 1  # +420 603 111 222 on one line


@pytest.mark.browser
def test_a_date_and_its_badge_stand_apart_in_a_card(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _seed, "/crm/deals", width=390, height=844)
    cell = page.locator('td[data-label="Next activity"]').first
    date, badge = cell.locator("time").bounding_box(), cell.locator(".badge").bounding_box()
    assert badge["x"] - (date["x"] + date["width"]) >= 4


def test_a_list_that_shows_nothing_says_why_once_and_offers_the_whole_list(web_app, member, acme):
    searched = text(member.get("/t/acme/crm/deals?q=Novak"))
    assert searched.count("No deal matches.") == 1 and "0 deals." not in searched
    assert "The search matches whole words" in searched and "Novák" in searched
    assert '<a href="/t/acme/crm/deals">Clear the search</a>' in searched
    filtered = text(member.get("/t/acme/crm/contacts?tag=nobody-has-it"))
    assert "No contact matches." in filtered and "0 contacts." not in filtered
    assert "The search matches whole words" not in filtered
    assert '<a href="/t/acme/crm/contacts">Clear filters</a>' in filtered
    for query in ("?state=all", ""):  # the default list's "open" is no filter of one's own
        none = text(member.get(f"/t/acme/crm/activities{query}"))
        assert "No activities yet: add one from a contact, company or deal." in none
        assert "Clear" not in none.split('class="empty"')[1][:300]


@pytest.mark.browser
def test_a_keyboard_user_applies_the_filters_from_after_them(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _seed, "/crm/contacts", width=1366, height=800)
    page.get_by_label("Tag", exact=True).first.fill("partner")
    page.get_by_label("Sort by").focus()
    page.keyboard.press("Tab")  # the next stop after the last filter applies them
    assert page.evaluate("document.activeElement.textContent") == "Apply filters"
    page.keyboard.press("Enter")
    page.wait_for_url("**/crm/contacts?**tag=partner**")
    assert page.locator("details.list-filters summary").inner_text() == "Filters (1 active)"
