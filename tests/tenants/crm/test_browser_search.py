"""The CRM's search in a real browser: on a laptop "/" puts the cursor in the top bar's field
and Enter shows what was found; on a phone, where the bar has only a link, "/" opens the search
page with its field ready; nothing overflows either screen."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser

FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def _people(app, acme):
    with in_app(app), tenant_context(db.session.get(Tenant, acme.id)):
        for first in ("Jana", "Petr"):
            contacts.create(contacts.ContactData(first_name=first, last_name="Novák"))


def test_slash_then_typing_searches_from_the_top_bar_on_a_laptop(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _people, "/crm/deals", width=1280, height=800)
    field = page.locator("#topbar-q")
    assert field.is_visible() and not page.locator(".topbar-search-link").is_visible()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "topbar-q"
    page.keyboard.type("novak")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/t/acme/crm/search?q=novak")
    found = page.locator("section.search-results").first.inner_text()
    assert "Jana Novák" in found and "Petr Novák" in found
    assert page.evaluate(FITS)


def test_slash_opens_the_search_page_on_a_phone(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _people, "/", width=390, height=844)
    assert not page.locator("#topbar-q").is_visible() and page.locator(".topbar-search-link").is_visible()
    assert page.evaluate(FITS)
    with page.expect_navigation():
        page.keyboard.press("/")
    assert page.url.endswith("/t/acme/crm/search")
    # autofocus is applied when the page is next rendered, which can come after its load event
    page.wait_for_function("document.activeElement && document.activeElement.id === 'search-q'", timeout=5000)
    page.keyboard.type("Jana")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Jana Novák" in page.locator("main").inner_text()
    assert page.evaluate(FITS)
