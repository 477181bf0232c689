"""Forms ask only what applies: a custom field's options for a choice field, its special
category box only where an agreement lets it be ticked (a field marked already keeps its mark),
and a deal's reason lost only in a lost stage."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import custom_fields
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser

LAPTOP = {"width": 1366, "height": 800}


def _nothing(app, tenant):
    return None


def test_options_show_for_a_choice_field_only_and_special_category_waits_for_an_agreement(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _nothing, "/settings/custom-fields", **LAPTOP)
    options = page.locator("#options")
    assert page.locator("#type").input_value() == "text" and not options.is_visible()
    page.select_option("#type", "choice")
    assert options.is_visible()
    page.select_option("#type", "number")
    assert not options.is_visible()
    special = page.locator("#special_category")
    assert special.is_disabled()
    assert "Not available" in page.locator("#special_category-hint").inner_text()

    # A choice field made from the page, by keyboard and mouse as anyone would.
    page.fill("#label", "Segment")
    page.select_option("#type", "choice")
    page.fill("#options", "SMB\nEnterprise")
    page.locator("form:has(#options) button[type=submit]").click()
    page.wait_for_load_state()
    with in_app(live_server.app, commit=False), tenant_context(
            db.session.execute(db.select(Tenant).where(Tenant.slug == "acme")).scalar_one()):
        (made,) = custom_fields.definitions()
        assert (made.label, made.type, made.options) == ("Segment", "choice", ["SMB", "Enterprise"])


def test_a_deal_asks_why_it_was_lost_only_in_a_lost_stage(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, _nothing, "/crm/deals/new", **LAPTOP)
    reason = page.locator("#lost_reason")
    assert not reason.is_visible()
    lost = page.locator("#stage option", has_text="Lost").get_attribute("value")
    page.select_option("#stage", lost)
    assert reason.is_visible()
    page.select_option("#stage", index=0)
    assert not reason.is_visible()
