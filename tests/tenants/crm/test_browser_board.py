"""The pipeline board in a real browser: a deal moved with the keyboard alone lands in its new
column; the board never widens the page (it scrolls inside itself from tablet width up, and
its columns stack on a phone)."""

from __future__ import annotations

import pytest

from tests.tenants.crm.conftest import acme_in_a_browser
from tests.tenants.crm.test_board import _world

PAGE_OVERFLOW = "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"


@pytest.mark.browser
def test_a_deal_is_moved_with_the_keyboard_and_the_board_stays_inside_the_page(live_server, browser_page):
    page = browser_page
    ids = acme_in_a_browser(live_server, page, _world, "/crm/deals/board", width=1280, height=800)
    board = page.locator("[data-board]")
    assert page.evaluate(PAGE_OVERFLOW) == 0
    assert board.evaluate("b => b.scrollWidth > b.clientWidth"), "six stages are wider than a laptop's page"

    page.get_by_label("Stage of “Plot”").focus()
    page.keyboard.press("End")  # the last option: Lost
    assert page.get_by_label("Stage of “Plot”").input_value() == str(ids["stages"]["Lost"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Move “Plot”"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/crm/deals/board?moved=*#stage-{ids['stages']['Lost']}")
    lost = page.locator(f"#stage-{ids['stages']['Lost']}")
    assert lost.locator(".board-title").all_inner_texts() == ["Plot"]
    assert "1 deal" in lost.locator(".board-total").inner_text()
    assert page.locator(f"#stage-{ids['stages']['Lead']} .board-empty").inner_text() == "No deals."
    assert page.locator(".flash-success[role=status]").inner_text() == "“Plot” moved to Lost."
    assert board.evaluate("b => b.scrollLeft") > 0, "the board scrolled to the column the deal went to"
    # The focus is back on the deal moved, which the message describes: the keyboard goes on from there.
    focused = page.evaluate("[document.activeElement.textContent, document.activeElement.getAttribute("
                            "'aria-describedby'), document.activeElement.closest('.board-column').id]")
    assert focused[0] == "Plot" and focused[2] == f"stage-{ids['stages']['Lost']}"
    assert page.locator(f"#{focused[1]}").inner_text() == "“Plot” moved to Lost."

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/t/acme/crm/deals/board")
    assert page.evaluate(PAGE_OVERFLOW) == 0
    columns = page.locator(".board-column")
    first, second = columns.nth(0).bounding_box(), columns.nth(1).bounding_box()
    assert second["y"] > first["y"] + first["height"] - 1 and abs(second["x"] - first["x"]) < 1, "stacked"
    # Stacked, the last stage is a tap away.
    jump = page.get_by_role("navigation", name="Stages")
    assert jump.get_by_role("link").count() == columns.count()
    lost_top = f"document.getElementById('stage-{ids['stages']['Lost']}').getBoundingClientRect().top"
    assert page.evaluate(lost_top) > 844, "out of sight, screens down"
    jump.get_by_role("link", name="Lost").click()
    page.wait_for_url(f"**#stage-{ids['stages']['Lost']}")
    assert 0 <= page.evaluate(lost_top) < 844


@pytest.mark.browser
def test_on_a_laptop_the_board_fits_the_window_and_scrolls_within(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _world, "/crm/deals/board", width=1366, height=800)
    board = page.locator("[data-board]")
    assert not page.get_by_role("navigation", name="Stages").is_visible()  # the columns stand side by side
    assert board.evaluate("b => b.getBoundingClientRect().height") <= 800
    # its sideways scrollbar is within the window once the board is scrolled to
    board.scroll_into_view_if_needed()
    assert board.evaluate("b => b.getBoundingClientRect().bottom") <= 800 + 1


@pytest.mark.browser
def test_a_card_dragged_onto_another_column_is_moved_there(live_server, browser_page):
    page = browser_page
    ids = acme_in_a_browser(live_server, page, _world, "/crm/deals/board", width=1600, height=900)
    card = page.locator(f"#deal-{ids['fence']}")
    assert card.get_attribute("draggable") == "true"
    page.drag_and_drop(f"#deal-{ids['fence']} .board-value", f"#stage-{ids['stages']['Proposal']} .board-head")
    page.wait_for_url(f"**/crm/deals/board?moved=*#stage-{ids['stages']['Proposal']}")
    assert page.locator(f"#stage-{ids['stages']['Proposal']} .board-title").all_inner_texts() == ["Plot"]
    assert page.locator(".flash-success").inner_text() == "“Plot” moved to Proposal."
