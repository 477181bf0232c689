"""The pipeline stages page in a real browser: a won or lost stage's win % is not asked for
(it counts 100 or 0 whatever is typed) until Open is chosen again, and every stage's buttons
stand in the same places, the first stage's Move up and the last's Move down kept, disabled."""

from __future__ import annotations

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import stages
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser


def _pipeline(app, tenant):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        return [(s.name, s.is_won or s.is_lost) for s in stages.ensure_defaults()]


@pytest.mark.browser
def test_a_won_or_lost_stage_asks_no_win_percent_and_buttons_keep_their_places(live_server, browser_page):
    page = browser_page
    pipeline = acme_in_a_browser(live_server, page, _pipeline, "/crm/stages", width=1366, height=800)
    rows = page.locator("ol.stage-list:not(.reason-list) > li")
    for i, (name, certain) in enumerate(pipeline):
        assert rows.nth(i).locator(".stage-percent").is_disabled() == certain, name
    won = rows.nth([c for _n, c in pipeline].index(True))
    won.locator("select").select_option("")  # Open again: its win % is asked for
    assert won.locator(".stage-percent").is_enabled()
    won.locator("select").select_option("won")
    assert won.locator(".stage-percent").is_disabled()

    first, last = rows.first, rows.last
    assert first.get_by_role("button", name="Move up").is_disabled()
    assert last.get_by_role("button", name="Move down").is_disabled()
    lefts = {round(rows.nth(i).get_by_role("button", name="Delete").bounding_box()["x"]) for i in range(len(pipeline))}
    assert len(lefts) == 1, lefts  # Delete in the same place on every stage


@pytest.mark.browser
def test_a_stage_moved_by_keyboard_keeps_the_focus_and_says_where_it_is(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _pipeline, "/crm/stages", width=1366, height=800)
    page.get_by_role("button", name="Move up Negotiation").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Move up Negotiation"
    assert "“Negotiation” moved up: now 3 of 6." in page.locator(".flash").inner_text()
    for _ in range(2):  # again: it goes on moving
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert "now 1 of 6" in page.locator(".flash").inner_text()
    # At the top, Move up is disabled: the focus is on its Move down.
    assert page.evaluate("document.activeElement.textContent.trim()") == "Move down Negotiation"
    names = page.locator("ol.stage-list:not(.reason-list) > li .stage-name")
    assert names.first.input_value() == "Negotiation"


def test_a_new_open_stage_goes_before_the_won_and_lost_ones(web_app, acme, admin):
    _pipeline(web_app, acme)
    assert admin.post("/t/acme/crm/stages/new", data={"new-name": "Demo", "new-outcome": "",
                                                      "new-probability": "30"}).status_code == 302
    assert admin.post("/t/acme/crm/stages/new", data={"new-name": "Cancelled", "new-outcome": "lost"}).status_code == 302
    assert [name for name, _ in _pipeline(web_app, acme)] == [
        "Lead", "Qualified", "Proposal", "Negotiation", "Demo", "Won", "Lost", "Cancelled"]
