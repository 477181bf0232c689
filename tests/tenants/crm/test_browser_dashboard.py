"""The dashboard's own activities due in a real browser on a phone: the switch to everyone's
and the e-mail setting are reached and used with the keyboard, and nothing overflows the page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, contacts, deals, stages
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


def _big_pipeline(app, acme):
    """Open deals worth tens of millions in three currencies in every open stage, and two
    activities of the owner's due today with long labels."""
    with in_app(app), tenant_context(db.session.get(Tenant, acme.id)):
        today = local_time.today()
        for i, stage in enumerate(stages.ensure_defaults()[:4]):
            for currency, value in (("CZK", "20246863.50"), ("EUR", "26419698.50"), ("USD", "22592534.50")):
                deals.create(deals.DealData(title=f"Deal {i} {currency}", value=Decimal(value), currency=currency,
                                            stage_id=stage.id))
        for n in range(2):
            person = contacts.create(contacts.ContactData(first_name="Alžběta", last_name=f"Procházková-Kučerová{n}"))
            activities.create("contact", person.id, activities.ActivityData(
                kind="call", due_on=today, note="Ask about the second stage of the hall lighting", owner_id=acme.owner.id))


_DASHBOARD = """() => {
  const wrap = document.querySelector('[aria-labelledby=dash-pipeline] .table-wrap');
  return {pipeline: [wrap.scrollWidth, wrap.clientWidth],
          what: [...document.querySelectorAll('.due-list .due-what')].map(p => p.getBoundingClientRect().width),
          buttons: [...document.querySelectorAll('main button, main a.btn, .dash-records a')].filter(b => b.offsetParent)
                     .map(b => [b.textContent.trim(), b.getBoundingClientRect().height])};
}"""


@pytest.mark.parametrize("width, height", [(1366, 800), (1024, 768), (390, 844)])
def test_the_pipeline_shows_its_amounts_whole_and_due_items_keep_their_width(live_server, browser_page, width, height):
    page = browser_page
    acme_in_a_browser(live_server, page, _big_pipeline, "/", width=width, height=height)
    shown = page.evaluate(_DASHBOARD)
    scroll, client = shown["pipeline"]
    assert scroll <= client  # nothing of the Value column clipped or scrolled away
    assert "105,678,794.00 EUR" in page.locator("[aria-labelledby=dash-pipeline] tfoot").inner_text()
    assert len(shown["what"]) == 2 and min(shown["what"]) >= 240  # the text is not squeezed beside its buttons
    if width < 768:
        assert [name for name, tall in shown["buttons"] if tall < 44] == []  # every button a finger's target
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
