"""The merge confirmation's button names the record kept; a long name wraps on a phone rather
than make the page scroll sideways."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies
from tests.identity.support import in_app
from tests.tenants.crm.conftest import acme_in_a_browser

PAGE_OVERFLOW = "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
LONG = "Moravská strojírna a slévárna, akciová společnost, odštěpný závod Brno-Královo Pole"


def _two_firms(app, tenant) -> tuple[str, str]:
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        keep = companies.create(companies.CompanyData(name=LONG, country="CZ"))
        other = companies.create(companies.CompanyData(name=LONG + " (2)", country="CZ"))
        db.session.flush()
        return str(keep.id), str(other.id)


def test_a_long_merge_into_button_wraps_on_a_phone(live_server, browser_page):
    page = browser_page
    keep, other = acme_in_a_browser(live_server, page, _two_firms, "/crm/companies", width=390, height=844)
    page.goto(f"{live_server}/t/acme/crm/companies/merge?keep={keep}&other={other}")
    button = page.get_by_role("button", name=f"Merge into {LONG}")
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert box["height"] > 44  # on more than one line
    assert page.evaluate(PAGE_OVERFLOW) == 0
