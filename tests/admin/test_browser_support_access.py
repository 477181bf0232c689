"""In a real browser: an owner grants a named support person read-only access for a ticket;
that person signs in to the console (two-factor), opens the workspace from it and reads a
contact; the owner then sees the read in the audit trail marked as support access, with the
ticket."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tenantry.tenants.support_grants import SupportGrant
from tests import factories
from tests.factories import PASSWORD

SHOTS = Path("/tmp/shots")  # noqa: S108 (screenshots for a person to look at)
TICKET = "SUP-2048"


def _sign_in(page, base, path, email, secret=None):
    page.goto(base.url(path))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if secret is not None:
        # One sign-in of this person in the test: the code of the next step is never a replay.
        page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))
        page.get_by_role("button", name="Verify").click()


@pytest.mark.browser
@pytest.mark.obligation("DPA-4.3.2", "DPA-4.1", "DPA-B.monitoring")
def test_support_reads_a_contact_under_a_grant_and_the_owner_sees_it_in_the_trail(live_server, browser_page):
    app = live_server.app
    with app.app_context():
        tenant = factories.make_tenant("acme", name="Acme Trading")
        support = factories.make_staff("support", email="sam.support@example.com")
        support.name = "Sam Support"
        with tenant_context(tenant):
            contact = contacts.create(contacts.ContactData(first_name="Jana", last_name="Kanárková",
                                                           emails=["jana.kanarkova@example.org"],
                                                           phones=["+420601111222"]))
            contact_id = contact.id
        owner_email, tenant_id = tenant._test_owner.email, tenant.id
        db.session.commit()
        support_id, support_secret = support.id, support._test_secret
    SHOTS.mkdir(parents=True, exist_ok=True)

    # 1. The owner grants access under Settings > Support access.
    owner = browser_page
    _sign_in(owner, live_server, "/login", owner_email)
    owner.wait_for_url(live_server.url("/t/acme/"))
    owner.get_by_role("navigation", name="Workspace").get_by_role("link", name="Support access").click()
    owner.get_by_role("heading", name="Support access", level=1).wait_for()
    owner.get_by_label("Support person").select_option(label="Sam Support")
    owner.get_by_label("Ticket reference").fill(TICKET)
    owner.get_by_label("Read-only: sees records, changes nothing").check()
    owner.get_by_label("Access lasts (hours)").fill("24")
    owner.get_by_role("button", name="Grant access").click()
    owner.get_by_text("Sam Support has read-only access until").wait_for()
    grants = owner.get_by_role("table")
    assert grants.get_by_role("cell", name=TICKET, exact=True).is_visible()
    assert grants.get_by_text("active", exact=True).is_visible()

    # 2. Support signs in to the console and opens the workspace and the contact from there.
    staff_context = owner.context.browser.new_context()
    try:
        staff = staff_context.new_page()
        staff.set_default_timeout(15_000)
        _sign_in(staff, live_server, "/admin/login", "sam.support@example.com", support_secret)
        staff.get_by_role("heading", name="Workspaces you may open").wait_for()
        assert staff.get_by_text(f"read-only for {TICKET}").is_visible()
        staff.get_by_role("link", name="Acme Trading").click()
        staff.wait_for_url(live_server.url("/t/acme/"))
        staff.get_by_role("navigation", name="Workspace").get_by_role("link", name="Contacts").click()
        staff.get_by_role("link", name=re.compile("Kanárková")).first.click()
        staff.get_by_role("heading", name=re.compile("Kanárková"), level=1).wait_for()
        assert staff.url == live_server.url(f"/t/acme/crm/contacts/{contact_id}")
        assert staff.get_by_text("jana.kanarkova@example.org").is_visible()
        # Read-only: the page offers no edit or delete, and the nav has no owner/admin settings.
        assert staff.get_by_role("link", name="Edit").count() == 0
        assert staff.get_by_role("button", name="Delete").count() == 0
        nav = staff.get_by_role("navigation", name="Workspace")
        assert nav.get_by_role("link", name="Support access").count() == 0
        assert nav.get_by_role("link", name="Audit trail").count() == 0
        staff.screenshot(path=str(SHOTS / "support_contact.png"), full_page=True)
    finally:
        staff_context.close()

    # The read is in the tenant's trail as the support person's, under the grant and the ticket.
    with app.app_context(), tenant_context(db.session.get(Tenant, tenant_id)):
        grant_id = db.session.execute(sa.select(SupportGrant.id)).scalar_one()
        seen = [e for e in db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == "support.page_viewed")
        ).scalars() if e.details["endpoint"] == "crm.contact_show"]
        assert len(seen) == 1
        read = seen[0]
        assert (read.actor_type, read.actor_id) == ("staff", str(support_id))
        assert read.details["records"] == {"contact_id": str(contact_id)}
        assert read.details["support_grant"] == str(grant_id) and read.details["ticket"] == TICKET

    # 3. The owner opens the audit trail and sees the contact read marked as support access.
    owner.get_by_role("navigation", name="Workspace").get_by_role("link", name="Audit trail").click()
    owner.get_by_role("heading", name="Audit trail", level=1).wait_for()
    events = owner.get_by_role("region", name="Events, newest first")
    row = events.get_by_role("row").filter(has=owner.get_by_text("support.page_viewed", exact=True)).filter(
        has_text=f"contact {str(contact_id)[:8]}")
    assert row.count() == 1
    who = row.get_by_role("cell").nth(1).inner_text()
    assert f"Support (Sam Support) — support access (ticket {TICKET})" in who
    assert row.get_by_role("cell", name="success").is_visible()
    owner.screenshot(path=str(SHOTS / "owner_audit_trail.png"), full_page=True)
    # The event's own page says who, under which grant, and that it succeeded.
    row.get_by_role("link").first.click()
    owner.get_by_role("heading", name="Audit event", level=1).wait_for()
    assert "support access" in owner.get_by_role("definition").nth(1).inner_text()
