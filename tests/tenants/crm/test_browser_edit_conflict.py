"""An edit that met someone else's save, in a real browser at phone width: the notice is read
out (role=alert), each field saved differently shows the saved value under it and is described
by it, the page does not scroll sideways, and saving again keeps what is in the form."""

from __future__ import annotations

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser


def _jana(app, tenant):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        return contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                                    notes="Met at the fair\nLikes tea")).id


def _someone_else_saves(app, contact_id, notes: str) -> None:
    with in_app(app), tenant_context(db.session.query(Tenant).filter_by(slug="acme").one()):
        contact = contacts.get(contact_id)
        plain = contact.plain()
        contacts.update(contact, contacts.ContactData(first_name=plain["first_name"], last_name=plain["last_name"],
                                                      notes=notes))


@pytest.mark.browser
def test_the_conflict_is_shown_next_to_the_fields_and_saving_again_keeps_the_form(live_server, browser_page):
    page = browser_page
    app = live_server.app
    jana = acme_in_a_browser(live_server, page, _jana, "/crm/contacts", width=390, height=844)
    page.goto(f"{live_server}/t/acme/crm/contacts/{jana}/edit")
    _someone_else_saves(app, jana, "Wants a quote by Friday")
    page.get_by_label("Position").fill("CFO")
    page.get_by_role("button", name="Save").click()

    alert = page.get_by_role("alert")
    assert "Someone else saved this contact after you opened this form" in alert.inner_text()
    assert "Saved differently from what you sent: Position, Notes." in alert.inner_text()
    notes = page.get_by_label("Notes")
    assert notes.get_attribute("aria-describedby").split()[0] == "notes-saved"
    assert page.locator("#notes-saved").inner_text() == "Currently saved: Wants a quote by Friday"
    assert page.locator("#position-saved").inner_text() == "Currently saved: (empty)"
    assert page.get_by_label("Position").input_value() == "CFO"
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")

    notes.fill("Wants a quote by Friday\nLikes tea")
    page.get_by_role("button", name="Save").click()
    assert page.locator(".flash-success").inner_text() == "Contact saved."
    with in_app(app, commit=False), tenant_context(db.session.query(Tenant).filter_by(slug="acme").one()):
        saved = contacts.get(jana).plain()
    # The browser sent the lines with CRLF; the note keeps them as typed, with LF.
    assert (saved["position"], saved["notes"]) == ("CFO", "Wants a quote by Friday\nLikes tea")
