"""A new contact that is in the CRM already, in a real browser at phone width: the notice is
read out (role=alert) and links the contact it matches, nothing is saved, the page does not
scroll sideways, and the notice's own button (outside the form, tied to it by form=) makes the
contact with what was typed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser


def _jana(app, tenant):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        return contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                                    emails=["jana@example.cz"])).id


def _saved(app) -> list[dict]:
    with in_app(app, commit=False), tenant_context(db.session.query(Tenant).filter_by(slug="acme").one()):
        rows = db.session.scalars(sa.select(Contact).order_by(Contact.created_at)).all()
        return Contact.plain_all(rows)


@pytest.mark.browser
def test_the_match_is_shown_and_the_contact_is_made_only_when_asked(live_server, browser_page):
    page = browser_page
    jana = acme_in_a_browser(live_server, page, _jana, "/crm/contacts/new", width=390, height=844)
    page.get_by_label("First name").fill("Jana")
    page.get_by_label("Surname").fill("Nová")
    page.get_by_label("E-mails").fill("Jana@Example.cz")
    page.get_by_role("button", name="Save").click()

    alert = page.get_by_role("alert")
    assert "This contact may be in the CRM already. Nothing is saved yet." in alert.inner_text()
    assert "Jana Nováková has the same e-mail address." in alert.inner_text()
    assert alert.get_by_role("link", name="Jana Nováková").get_attribute("href").endswith(f"/crm/contacts/{jana}")
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
    assert len(_saved(live_server.app)) == 1

    anyway = alert.get_by_role("button", name="Create a new contact anyway")
    anyway.focus()
    page.keyboard.press("Enter")
    assert page.locator(".flash-success").inner_text() == "Contact saved."
    made = _saved(live_server.app)[-1]
    # email-validator normalises the domain, not the local part.
    assert (made["first_name"], made["last_name"], made["emails"]) == ("Jana", "Nová", ["Jana@example.cz"])
