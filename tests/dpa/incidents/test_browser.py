"""In a real browser: the DPO logs an incident and notifies the tenants; the tenant's owner sees
the banner, opens the notice and acknowledges it."""

from __future__ import annotations

import time
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tests import factories
from tests.factories import PASSWORD


@pytest.mark.browser
@pytest.mark.obligation("DPA-4.3.6", "TEK-breach-content")
def test_dpo_notifies_and_the_owner_acknowledges(live_server, browser_page):
    app = live_server.app
    with app.app_context():
        tenant = factories.make_tenant("acme", name="Acme Trading")
        dpo = factories.make_staff("dpo")
        owner_email, secret, dpo_email = tenant._test_owner.email, dpo._test_secret, dpo.email
        db.session.commit()
    page = browser_page

    page.goto(live_server.url("/admin/login"))
    page.get_by_label("E-mail").fill(dpo_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    # Going elsewhere before the sign-in answer arrives would abort it and lose the session.
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(live_server.url("/admin/incidents/"))
    page.get_by_role("link", name="Log an incident").click()
    aware = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Title").fill("Exposed export link")
    page.get_by_label("Detected at (UTC)").fill(aware)
    page.get_by_label("Became aware at (UTC)").fill(aware)
    page.get_by_label("Confidentiality (disclosed or accessed)").check()
    page.get_by_label("Categories of data subjects").fill("customers' contacts")
    page.get_by_label("Approximate number of data subjects").fill("120")
    page.get_by_label("Likely consequences").fill("Unwanted e-mails")
    page.get_by_label("Which tenants are affected").select_option("chosen")
    page.get_by_label("Acme Trading (acme)").check()
    page.get_by_role("button", name="Log incident").click()
    page.get_by_role("heading", name="Exposed export link", level=1).wait_for()
    page.get_by_role("button", name="Notify 1 tenant").click()
    page.get_by_text("Notice sent to 1 tenant(s).").wait_for()
    assert page.get_by_text("first notice").is_visible()

    owner_page = page.context.browser.new_context().new_page()
    owner_page.goto(live_server.url("/login"))
    owner_page.get_by_label("E-mail").fill(owner_email)
    owner_page.get_by_label("Password").fill(PASSWORD)
    owner_page.get_by_role("button", name="Sign in").click()
    owner_page.wait_for_url(live_server.url("/t/acme/"))
    banner = owner_page.get_by_role("alert")
    assert "needs your acknowledgement" in banner.inner_text()
    banner.get_by_role("link", name="Read and acknowledge").click()
    owner_page.get_by_role("link", name="Personal-data breach notice: Exposed export link").click()
    expect(owner_page.get_by_text("Likely consequences: Unwanted e-mails.")).to_be_visible()
    owner_page.get_by_role("button", name="Acknowledge").click()
    owner_page.get_by_text("Acknowledged. Thank you.").wait_for()
    assert owner_page.get_by_role("alert").count() == 0
    owner_page.context.close()

    with app.app_context():
        note = db.session.execute(sa.select(Notification).where(Notification.kind == "incident.notice",
                                                               Notification.in_app.is_(True))).scalar_one()
        assert note.acknowledged_at is not None and note.acknowledged_by_user_id is not None
    page.reload()
    assert page.get_by_text(note.acknowledged_at.strftime("%Y-%m-%d %H:%M")).count() >= 1
