"""The sidebar on a phone, where it is a strip that scrolls sideways: a page below a section
far along the strip (an activity's edit form below Activities, a setting below Custom fields)
opens with that section's tab marked and scrolled into sight; the page itself does not scroll
sideways."""

from __future__ import annotations

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, contacts
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser

TAB_IN_SIGHT = """nav => { const a = nav.querySelector('a.active'); if (!a) return null;
  const n = nav.getBoundingClientRect(), r = a.getBoundingClientRect();
  return [a.textContent.trim(), a.getAttribute('aria-current'), r.left >= n.left - 1 && r.right <= n.right + 1]; }"""


def _call(app, tenant):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        return activities.create("contact", jana.id, activities.ActivityData(kind="call", note="Ring")).id


@pytest.mark.browser
def test_the_section_of_a_page_is_marked_and_in_sight_on_a_phone(live_server, browser_page):
    page = browser_page
    call = acme_in_a_browser(live_server, page, _call, "/crm/contacts", width=390, height=844)
    nav = page.locator(".sidebar nav")
    assert nav.evaluate(TAB_IN_SIGHT) == ["Contacts", "page", True]
    for path, tab in ((f"/crm/activities/{call}/edit", "Activities"), ("/settings/custom-fields", "Custom fields")):
        page.goto(f"{live_server}/t/acme{path}")
        name, current, in_sight = nav.evaluate(TAB_IN_SIGHT)
        assert (name, in_sight) == (tab, True)
        assert current == ("true" if path.startswith("/crm/activities/") else "page")
        assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
