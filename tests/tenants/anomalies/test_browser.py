"""In a real browser: an owner is told of an alert, opens the workspace's alerts, resolves it."""

from __future__ import annotations

import pytest

from tenantry.platform.db import db
from tests import factories
from tests.factories import PASSWORD
from tests.tenants.anomalies.support import alerts, ids, read_contacts


@pytest.mark.browser
@pytest.mark.obligation("TT-activity-log", "DPA-B.monitoring")
def test_the_owner_sees_the_alert_in_notices_and_resolves_it(live_server, browser_page):
    app = live_server.app
    with app.app_context():
        tenant = factories.make_tenant("acme", name="Acme Trading")
        member = factories.make_user(name="Bob Reader")
        factories.add_member(tenant, member)
        tenant_id, member_id, owner_email = tenant.id, member.id, tenant._test_owner.email
        db.session.commit()
    read_contacts(app, tenant_id, member_id, ids(201))
    page = browser_page
    page.goto(live_server.url("/login"))
    page.get_by_label("E-mail").fill(owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url("/t/acme/"))

    page.goto(live_server.url("/t/acme/notices"))
    page.get_by_role("link", name="Security alert in Acme Trading: Many contacts read in a short time").click()
    page.get_by_text("Bob Reader read 201 different contacts within 10 minutes").wait_for()

    page.get_by_role("link", name="Alerts").click()
    page.get_by_role("heading", name="Security alerts", level=1).wait_for()
    assert page.get_by_text("1 open", exact=True).is_visible()
    page.get_by_role("button", name="Mark resolved").click()
    page.get_by_text("Alert marked as resolved.").wait_for()
    assert [a["status"] for a in alerts(app)] == ["resolved"]
