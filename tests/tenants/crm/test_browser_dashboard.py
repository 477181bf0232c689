"""The dashboard's own activities due in a real browser on a phone: the switch to everyone's
and the e-mail setting are reached and used with the keyboard, and nothing overflows the page."""

from __future__ import annotations

from datetime import timedelta

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, contacts
from tests.identity.support import in_app, new_member
from tests.tenants.crm.conftest import acme_in_a_browser


def _due(app, acme):
    """One activity of the owner's due today, one of another member's due tomorrow."""
    other = new_member(app, acme, "member", email="olga@acme.example.com")
    with in_app(app), tenant_context(db.session.get(Tenant, acme.id)):
        today = local_time.today()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        for owner, days, note in ((acme.owner, 0, "Call Jana back"), (other, 1, "Olga's meeting notes")):
            activities.create("contact", jana.id, activities.ActivityData(
                kind="call", due_on=today + timedelta(days=days), note=note, owner_id=owner.id))


def test_ones_own_due_then_everyones_and_the_email_off_with_the_keyboard_on_a_phone(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _due, "/", width=390, height=844)
    due = page.locator("section.dash-due")
    assert "Call Jana back" in due.inner_text() and "Olga's meeting notes" not in due.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    switch = page.get_by_role("navigation", name="Whose activities due")
    switch.get_by_role("link", name="Yours").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/t/acme/?due=all")
    assert "Olga's meeting notes" in page.locator("section.dash-due").inner_text()
    assert switch.get_by_role("link", name="Everyone's").get_attribute("aria-current") == "page"

    stop = page.get_by_role("button", name="Stop these e-mails")
    stop.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "You will no longer get e-mails about what is assigned to you." in page.locator("main").inner_text()
    assert page.url.endswith("/t/acme/?due=all")
    assert page.get_by_role("button", name="Send me these e-mails").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
