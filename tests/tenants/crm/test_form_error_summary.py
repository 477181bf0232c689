"""A form sent back with errors says so at its top: a summary of what is wrong, each linked to
its field, and "Error: " first in the page's title; the timeline's form is sent back at the
form, and its address asked for again leads to the record's timeline rather than a 405."""

from __future__ import annotations

import re

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tests.identity.support import in_app, text
from tests.tenants.crm.conftest import acme_in_a_browser


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def _summary(html: str, summary_id: str = "error-summary") -> tuple[str, list[tuple[str, str]]]:
    """The summary's opening tag and its links (target, text)."""
    match = re.search(rf'(<div class="error-summary" id="{summary_id}"[^>]*>)(.*?)</div>', html, re.S)
    assert match, html
    return match.group(1), re.findall(r'<a href="#([^"]+)">(.*?)</a>', match.group(2))


def _contact(web_app, acme) -> str:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        return str(contacts.create(contacts.ContactData(first_name="Tim", last_name="Line")).id)


def test_a_form_sent_back_with_errors_has_a_summary_linking_each_field_and_says_error_in_its_title(member):
    blank = member.get("/t/acme/crm/contacts/new")
    assert "error-summary" not in text(blank)
    assert _title(text(blank)) == "New contact · Tenantry"

    response = member.post("/t/acme/crm/contacts/new", data={"first_name": "", "last_name": "", "phones": "12"})
    assert response.status_code == 422
    html = text(response)
    assert _title(html) == "Error: New contact · Tenantry"
    tag, links = _summary(html)
    assert 'role="alert"' in tag and 'tabindex="-1"' in tag
    targets = [target for target, _ in links]
    assert {"last_name", "phones"} <= set(targets)
    for target in targets:  # each link leads to a control on the page
        assert f'id="{target}"' in html
    assert next(label for target, label in links if target == "phones").startswith("Phones: ")
    # the summary comes before the first field
    assert html.index('class="error-summary"') < html.index('id="first_name"')


def test_data_that_looks_like_the_summary_does_not_make_the_title_say_error(member, web_app, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contact_id = str(contacts.create(contacts.ContactData(
            first_name="Tim", last_name="Line", notes='<div class="error-summary">')).id)
    assert _title(text(member.get(f"/t/acme/crm/contacts/{contact_id}"))) == "Tim Line · Tenantry"


def test_the_timeline_form_is_sent_back_at_the_form_and_its_address_leads_to_the_timeline(member, web_app, acme):
    contact_id = _contact(web_app, acme)
    page = text(member.get(f"/t/acme/crm/contacts/{contact_id}"))
    assert f'action="/t/acme/crm/contacts/{contact_id}/activities#add-activity-errors" id="add-activity"' in page

    bad = member.post(f"/t/acme/crm/contacts/{contact_id}/activities", data={"kind": "fax", "due_on": "tomorrow"})
    assert bad.status_code == 422
    html = text(bad)
    assert _title(html).startswith("Error: ")
    _tag, links = _summary(html, "add-activity-errors")
    assert [target for target, _ in links] == ["kind", "due_on"]

    again = member.get(f"/t/acme/crm/contacts/{contact_id}/activities")
    assert again.status_code == 302
    assert again.headers["Location"] == f"/t/acme/crm/contacts/{contact_id}#timeline"


def test_a_viewer_reloading_an_activity_address_is_also_led_to_the_timeline(web_app, acme):
    from tests.tenants.crm.conftest import signed_in

    contact_id = _contact(web_app, acme)
    viewer = signed_in(web_app, acme, "viewer")
    response = viewer.get(f"/t/acme/crm/contacts/{contact_id}/activities")
    assert response.headers["Location"] == f"/t/acme/crm/contacts/{contact_id}#timeline"
    # No such record here (or another workspace's): a 404, as its page is.
    assert viewer.get("/t/acme/crm/companies/00000000-0000-0000-0000-000000000000/activities").status_code == 404


def test_the_summary_takes_the_focus_and_its_link_the_field_in_a_browser(live_server, browser_page):
    page = browser_page
    acme_in_a_browser(live_server, page, lambda app, tenant: None, "/crm/contacts/new", width=390, height=844)
    page.fill("#phones", "12")
    page.click("#contact-form button[type=submit]")
    page.wait_for_selector(".error-summary")
    page.wait_for_load_state()
    assert page.title().startswith("Error: ")
    assert page.evaluate("document.activeElement.className") == "error-summary"
    assert page.evaluate("document.querySelector('.error-summary').getBoundingClientRect().top") >= 0
    page.click(".error-summary a[href='#phones']")
    assert page.evaluate("document.activeElement.id") == "phones"
    label_top = page.evaluate("document.querySelector('label[for=phones]').getBoundingClientRect().top")
    assert 0 <= label_top < 844


def test_a_timeline_activity_sent_back_opens_at_its_form_in_a_browser(live_server, browser_page):
    page = browser_page

    def seed(app, tenant):
        return _contact(app, tenant)

    contact_id = acme_in_a_browser(live_server, page, seed, "/crm/contacts", width=1366, height=800)
    page.goto(f"{live_server}/t/acme/crm/contacts/{contact_id}")
    page.fill("#due_time", "10:00")  # a time needs a date
    page.click("#add-activity button[type=submit]")
    page.wait_for_selector("#add-activity-errors")
    page.wait_for_load_state()
    assert page.url.endswith("#add-activity-errors")
    assert page.evaluate("document.activeElement.id") == "add-activity-errors"
    top = page.evaluate("document.getElementById('add-activity-errors').getBoundingClientRect().top")
    assert 0 <= top < 800
