"""The members, API clients and audit trail pages on a phone: each person, client and event reads as a card
(table.data.cards), so their two-factor state, dates and buttons are on screen, not beyond a
table's right edge; and each button says whom or what it acts on."""

from __future__ import annotations

from collections import Counter

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.api import clients
from tests.identity.support import browser_sign_in, in_app, new_member, new_tenant

_SHOWN = """() => {
  const wrap = document.querySelector('main .table-wrap'), width = document.documentElement.clientWidth;
  return {wrap: [wrap.scrollWidth, wrap.clientWidth], page: [document.documentElement.scrollWidth, width],
          offscreen: [...wrap.querySelectorAll('td, button, select')].filter(e => e.offsetParent)
                       .filter(e => e.getBoundingClientRect().right > width).map(e => e.textContent.trim()),
          rows: [...wrap.querySelectorAll('tbody tr')].map(tr => getComputedStyle(tr).display)};
}"""


def _open(live_server, page, path: str, seed=None):
    acme = new_tenant(live_server.app, "acme")
    for role in ("admin", "member", "viewer"):
        new_member(live_server.app, acme, role, email=f"a-rather-long-address.{role}@acme-industries.example.com")
    if seed:
        with in_app(live_server.app), tenant_context(db.session.get(Tenant, acme.id)):
            seed()
    page.set_viewport_size({"width": 390, "height": 844})
    browser_sign_in(page, str(live_server), acme.owner.email, then=f"{live_server}/t/acme/**")
    page.goto(f"{live_server}/t/acme{path}")
    return acme


def _button_names(page) -> Counter:
    return Counter(b.evaluate("b => b.textContent.replace(/\\s+/g, ' ').trim()")
                   for b in page.locator("main table button").all())


@pytest.mark.browser
def test_members_read_as_cards_on_a_phone_with_buttons_that_name_the_person(live_server, browser_page):
    page = browser_page
    acme = _open(live_server, page, "/members")
    shown = page.evaluate(_SHOWN)
    assert shown["wrap"][0] <= shown["wrap"][1] and shown["page"][0] <= shown["page"][1]
    assert shown["offscreen"] == [] and set(shown["rows"]) == {"flex"}
    for label in ("Two-factor", "Joined"):
        assert page.locator(f'td[data-label="{label}"]').first.is_visible()

    names = _button_names(page)
    assert max(names.values()) == 1  # no two buttons called the same
    viewer = "a-rather-long-address.viewer@acme-industries.example.com"
    assert page.get_by_role("button", name=f"Change the role of {viewer}", exact=True).is_visible()
    assert page.get_by_role("button", name=f"Remove {viewer}", exact=True).is_visible()
    assert page.get_by_role("button", name="Leave this workspace", exact=True).is_visible()
    own = page.locator("tbody tr").filter(has_text=acme.owner.email)
    assert "(you)" in own.inner_text() and "(you)" not in page.locator("tbody tr").filter(has_text=viewer).inner_text()
    assert "1 owner. The last owner" in page.locator("main").inner_text()


@pytest.mark.browser
def test_api_clients_read_as_cards_on_a_phone_with_their_status_and_revoke(live_server, browser_page):
    page = browser_page

    def seed():
        clients.create("Invoicing sync", ["crm:read", "crm:write", "export"])
        gone = clients.create("Old warehouse feed", ["crm:read"])
        clients.revoke(gone.client)

    _open(live_server, page, "/settings/api-clients", seed)
    shown = page.evaluate(_SHOWN)
    assert shown["wrap"][0] <= shown["wrap"][1] and shown["page"][0] <= shown["page"][1]
    assert shown["offscreen"] == [] and set(shown["rows"]) == {"flex"}
    for label in ("Created", "Last used"):
        assert page.locator(f'td[data-label="{label}"]').first.is_visible()
    sync = page.locator("tbody tr").filter(has_text="Invoicing sync")
    assert sync.locator('td[data-label="Status"]').inner_text().strip() == "active"
    assert page.get_by_role("button", name="Revoke Invoicing sync", exact=True).is_visible()
    assert _button_names(page) == Counter({"Revoke Invoicing sync": 1})  # none for the revoked one


@pytest.mark.browser
def test_the_audit_trail_reads_as_cards_on_a_phone_each_titled_by_what_happened(live_server, browser_page):
    page = browser_page

    def seed():
        from tenantry.tenants.crm import contacts

        contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                             emails=["jana.novakova@a-rather-long-domain.example.com"]))

    _open(live_server, page, "/audit", seed)
    shown = page.evaluate(_SHOWN)
    assert shown["wrap"][0] <= shown["wrap"][1] and shown["page"][0] <= shown["page"][1]
    assert shown["offscreen"] == [] and set(shown["rows"]) == {"flex"}
    created = page.locator("tbody tr").filter(has_text="crm.contact.created")
    title = created.locator("td.card-title")
    assert title.inner_text().startswith("Contact created success")
    assert title.bounding_box()["y"] < created.locator('td[data-label="When"]').bounding_box()["y"]  # on top
    page.get_by_label("Action").select_option(label="Contact created")
    page.get_by_role("button", name="Show events").click()
    page.wait_for_url("**action=crm.contact.created**")
    assert page.locator("tbody tr").count() == 1
