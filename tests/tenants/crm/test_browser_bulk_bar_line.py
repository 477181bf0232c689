"""The activity list's changes to the ticked: on a laptop each label stays on the line of its
control and button; on a phone they may break apart, never widening the page."""

from __future__ import annotations

from tests.tenants.crm.conftest import acme_in_a_browser
from tests.tenants.crm.test_list_wording import _contact_with_activity


def _middles(page, selector: str) -> list[float]:
    return page.evaluate(f"""[...document.querySelectorAll('{selector}')].map(e => {{
        const r = e.getBoundingClientRect(); return r.top + r.height / 2; }})""")


def test_a_bulk_field_keeps_its_label_control_and_button_on_one_line_on_a_laptop(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, lambda app, t: _contact_with_activity(app, t, done=False),
                      "/crm/activities", width=1366, height=800)
    page.locator("table.data tbody input.pick").first.check()
    for field in ("#bulk-owner", "#bulk-due"):
        group = f".bulk-bar .row-field:has({field}) > *"
        middles = _middles(page, group)
        assert len(middles) == 3 and max(middles) - min(middles) < 4, (field, middles)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth") == 0
