"""The contact picker in a real browser (app.js): typing asks the lookup route, the arrow
keys move through the options with aria-activedescendant, Enter chooses without sending the
form, typing again forgets the choice, and the deal is saved with the contact chosen."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tenantry.tenants.crm import pickers
from tenantry.tenants.crm.models import Deal
from tests.identity.support import browser_sign_in, in_app, new_tenant
from tests.tenants.crm.test_pickers import _seed


@pytest.mark.browser
def test_a_contact_is_found_and_chosen_with_the_keyboard(live_server, browser_page, monkeypatch):
    monkeypatch.setattr(pickers, "SELECT_UP_TO", 1)
    acme = new_tenant(live_server.app, "acme", country="CZ")
    ids = _seed(live_server.app, acme)
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    browser_sign_in(page, str(live_server), acme.owner.email, then=f"{live_server}/t/acme/**")
    page.goto(f"{live_server}/t/acme/crm/deals/new")
    page.get_by_label("Title").fill("Renewal")
    page.get_by_label("Value").fill("1200")

    box = page.get_by_role("combobox", name="Contact")
    hidden = page.locator("input[type=hidden][name=contact]")
    box.focus()
    page.keyboard.type("jana")
    options = page.get_by_role("listbox", name="Contact").get_by_role("option")
    options.first.wait_for()
    assert options.all_inner_texts() == ["Jana Nováková\njana@example.com", "Jana Svobodová\njana.s@example.com"]
    assert box.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    assert "Svobodová" in page.locator(f"#{active}").inner_text()
    page.keyboard.press("Enter")  # chooses; the form is not sent
    assert page.url.endswith("/crm/deals/new")
    assert box.input_value() == "Jana Svobodová" and hidden.input_value() == ids["jana.s@example.com"]
    assert box.get_attribute("aria-expanded") == "false"
    assert "Jana Svobodová chosen." in page.locator("[aria-live=polite]").all_inner_texts()

    page.keyboard.press("Backspace")  # no longer the name chosen: the choice is forgotten
    assert hidden.input_value() == ""
    page.keyboard.press("Control+a")
    page.keyboard.type("nobody")
    page.locator(".picker-note", has_text="No match.").wait_for()
    assert box.get_attribute("aria-expanded") == "false"

    page.keyboard.press("Control+a")
    page.keyboard.type("eva@example.com")
    options.first.wait_for()
    page.keyboard.press("Enter")  # the only match is taken
    assert hidden.input_value() == ids["eva@example.com"]
    page.screenshot(path="test-artifacts/picker-phone.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Renewal"
    with in_app(live_server.app, commit=False), all_tenants():
        assert str(db.session.scalars(sa.select(Deal)).one().contact_id) == ids["eva@example.com"]
