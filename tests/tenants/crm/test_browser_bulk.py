"""The contact list's changes to the contacts ticked, in a real browser: "All on this page"
(app.js) ticks every box and shows a partial choice as mixed; the tag is added to the ones ticked."""

from __future__ import annotations

import pytest

from tests.tenants.crm.conftest import acme_in_a_browser
from tests.tenants.crm.test_bulk import _people, _tags


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
