"""The lists' changes to the records ticked, in a real browser: "All on this page" (app.js)
ticks every box and shows a partial choice as mixed; a tag is added to the contacts ticked, and
a company found with the keyboard; the deals ticked move to a stage, and a refusal keeps the
boxes ticked, on a phone."""

from __future__ import annotations

import pytest

from tenantry.tenants.crm import pickers
from tests.tenants.crm.conftest import acme_in_a_browser
from tests.tenants.crm.test_bulk import _company, _company_of, _people, _tags
from tests.tenants.crm.test_deal_bulk import _deal, _deals


@pytest.mark.browser
def test_all_on_this_page_ticks_every_box_and_a_tag_is_added_to_them(live_server, browser_page):
    page = browser_page
    ids = acme_in_a_browser(live_server, page, _people, "/crm/contacts", width=390, height=844)
    every = page.get_by_label("All on this page")
    boxes = page.locator("input.pick[form=bulk]")
    assert boxes.count() == 3  # the restricted contact is not listed
    every.check()
    assert [b.is_checked() for b in boxes.all()] == [True, True, True]
    page.get_by_label("Tick Eva Dvořáková").uncheck()
    assert not every.is_checked() and every.evaluate("b => b.indeterminate")
    page.locator("#bulk-tag").fill("Newsletter")
    page.get_by_role("button", name="Add tag").click()
    assert page.locator(".flash-success").inner_text() == "Tag “Newsletter” added to 2 contacts (of 2 chosen)."
    assert _tags(live_server.app, ids["jana"]) == ["VIP", "Newsletter"]
    assert _tags(live_server.app, ids["petr"]) == ["Lead", "Newsletter"]
    assert _tags(live_server.app, ids["eva"]) == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


@pytest.mark.browser
def test_the_deals_ticked_move_to_a_stage_on_a_phone(live_server, browser_page):
    page = browser_page
    ids = acme_in_a_browser(live_server, page, _deals, "/crm/deals", width=390, height=844)
    page.get_by_label("All on this page").check()
    page.get_by_label("Tick Střecha").uncheck()
    page.locator("#bulk-stage").select_option(label="Won")
    page.get_by_role("button", name="Move").click()
    assert page.locator(".flash-success").inner_text() == "2 deals moved to Won (of 2 chosen)."
    assert {_deal(live_server.app, ids[key]).stage_id for key in ("windows", "doors")} == {ids["won"]}
    # Nothing chosen for the owner: the error is next to the owner's select, the boxes stay ticked.
    page.get_by_label("Tick Okna").check()
    page.get_by_role("button", name="Set owner").click()
    assert page.locator("#bulk-owner-err").inner_text() == "Choose the new owner, a member of this workspace, or nobody."
    assert page.get_by_label("Tick Okna").is_checked()
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


@pytest.mark.browser
def test_the_contacts_ticked_are_put_in_a_company_found_with_the_keyboard(live_server, browser_page, monkeypatch):
    monkeypatch.setattr(pickers, "SELECT_UP_TO", 0)  # a workspace with many companies: a search box
    page = browser_page
    ids = acme_in_a_browser(live_server, page, _people_and_a_company, "/crm/contacts", width=1280, height=800)
    page.get_by_label("Tick Petr Svoboda").check()
    box = page.get_by_role("combobox", name="Company").last  # the bulk bar's, after the filter's
    box.focus()
    page.keyboard.type("sklarna")
    page.get_by_role("listbox", name="Company").get_by_role("option").first.wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # chooses; the form is not sent
    assert box.input_value() == "Sklárna Bor"
    page.get_by_role("button", name="Set company").click()
    assert page.locator(".flash-success").inner_text() == "1 contact put in Sklárna Bor (of 1 chosen)."
    assert _company_of(live_server.app, ids["petr"]) == ids["glass"]
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


def _people_and_a_company(app, tenant):
    return {**_people(app, tenant), "glass": _company(app, tenant, "Sklárna Bor")}
