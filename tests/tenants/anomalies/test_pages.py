"""The workspace's alerts page with its thresholds (owners and admins), and the staff security
dashboard (platform admins and DPOs, no tenant personal data) [TT-activity-log, DPA-B.monitoring,
TT-least-privilege, DPA-4.1]."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.tenants.anomalies.models import AlertSettings, StaffAlert
from tests import factories
from tests.identity.support import (
    count,
    field_errors,
    in_app,
    new_member,
    new_tenant,
    sign_in,
    text,
    who,
)
from tests.tenants.anomalies.support import alerts, ids, read_contacts, record


def _staff(app, role):
    with in_app(app):
        return who(factories.make_staff(role))


@pytest.mark.obligation("TT-activity-log", "DPA-B.monitoring")
def test_an_admin_sees_the_alerts_and_changes_a_threshold(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    admin = new_member(web_app, acme, "admin")
    bob = new_member(web_app, acme, email="bob@example.com")
    read_contacts(web_app, acme.id, bob.id, ids(201))
    sign_in(web, admin)
    page = text(web.get("/t/acme/settings/alerts"))
    assert "Many contacts read in a short time" in page and "read 201 different contacts" in page
    response = web.post("/t/acme/settings/alerts", data={
        "mass_read_enabled": "y", "mass_read_threshold": "500", "export_enabled": "y", "new_ip_enabled": "y",
        "failed_logins_enabled": "y", "failed_logins_threshold": "8", "api_volume_enabled": "y",
        "api_volume_multiplier": "10", "api_volume_min_baseline": "20"})
    assert response.status_code == 302
    with in_app(web_app, commit=False):
        from tenantry.platform.tenancy import all_tenants

        with all_tenants():
            saved = db.session.get(AlertSettings, acme.id)
            assert (saved.mass_read_threshold, saved.failed_logins_threshold) == (500, 8)
            event = db.session.execute(sa.select(AuditEvent).where(
                AuditEvent.action == "security.alert-settings.changed")).scalar_one()
            assert event.details["mass_read_threshold"] == {"from": 200, "to": 500}
    frozen.shift(3600)
    read_contacts(web_app, acme.id, bob.id, ids(400, start=5000))
    assert len(alerts(web_app)) == 1  # 400 is not more than 500


def test_a_bad_threshold_is_refused_next_to_its_field_and_nothing_saved(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    response = web.post("/t/acme/settings/alerts", data={
        "mass_read_threshold": "0", "failed_logins_threshold": "five", "api_volume_multiplier": "10",
        "api_volume_min_baseline": "20"})
    assert response.status_code == 422
    html = text(response)
    assert field_errors(html, "mass_read_threshold") == ["Enter a whole number from 1 to 1000000."]
    assert field_errors(html, "failed_logins_threshold")
    assert count(web_app, AlertSettings) == 0


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_see_or_change_alerts(web_app, web, frozen, role):
    acme = new_tenant(web_app, "acme")
    person = new_member(web_app, acme, role)
    sign_in(web, person)
    assert web.get("/t/acme/settings/alerts").status_code == 403
    assert web.post("/t/acme/settings/alerts", data={"mass_read_threshold": "1"}).status_code == 403


def test_an_owner_resolves_an_alert_and_another_tenants_alert_is_404(web_app, web, frozen):
    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob, eve = new_member(web_app, acme), new_member(web_app, beta)
    record(web_app, "crm.contacts.exported", acme.id, bob.id)
    record(web_app, "crm.contacts.exported", beta.id, eve.id)
    mine, theirs = alerts(web_app, acme.id)[0], alerts(web_app, beta.id)[0]
    sign_in(web, acme.owner)
    assert web.post(f"/t/acme/settings/alerts/{theirs['id']}/resolve").status_code == 404
    assert web.post(f"/t/acme/settings/alerts/{mine['id']}/resolve").status_code == 302
    assert alerts(web_app, acme.id)[0]["status"] == "resolved"
    assert alerts(web_app, beta.id)[0]["status"] == "open"


@pytest.mark.obligation("TT-activity-log", "DPA-B.monitoring", "DPA-4.1", "TT-least-privilege")
@pytest.mark.parametrize(("role", "allowed"), [("platform-admin", True), ("dpo", True), ("support", False)])
def test_the_staff_dashboard_lists_open_alerts_without_personal_data(web_app, web, frozen, role, allowed):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme, email="bob.secret@example.com")
    read_contacts(web_app, acme.id, bob.id, ids(201))
    staff = _staff(web_app, role)
    sign_in(web, staff)
    response = web.get("/admin/security/")
    if not allowed:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    page = text(response)
    assert "acme" in page and "Many contacts read in a short time" in page and "201" in page
    assert "bob.secret@example.com" not in page and "Test Person" not in page


def test_a_tenant_user_cannot_reach_the_staff_dashboard(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    assert web.get("/admin/security/").status_code == 404


@pytest.mark.obligation("TT-activity-log")
def test_five_failed_staff_sign_ins_are_a_platform_alert_for_the_platform_admins(web_app, web, frozen, outbox):
    target = _staff(web_app, "support")
    admin = _staff(web_app, "platform-admin")
    dpo = _staff(web_app, "dpo")
    for _ in range(4):
        assert web.post("/admin/login", data={"email": target.email, "password": "wrong-wrong-wrong"}).status_code == 422
    assert count(web_app, StaffAlert) == 0
    assert web.post("/admin/login", data={"email": target.email, "password": "wrong-wrong-wrong"}).status_code == 422
    assert count(web_app, StaffAlert) == 1
    told = {m["To"] for m in outbox.messages() if "staff account" in m["Subject"]}
    assert told == {admin.email}
    sign_in(web, dpo)
    page = text(web.get("/admin/security/"))
    assert target.email in page and "Repeated failed sign-ins" in page
    assert 'action="/admin/security/staff-alerts/' not in page  # only platform admins resolve


def test_a_platform_admin_resolves_a_staff_alert(web_app, web, frozen):
    target = _staff(web_app, "dpo")
    admin = _staff(web_app, "platform-admin")
    for _ in range(5):
        web.post("/admin/login", data={"email": target.email, "password": "wrong-wrong-wrong"})
    with in_app(web_app, commit=False):
        alert_id = db.session.execute(sa.select(StaffAlert.id)).scalar_one()
    sign_in(web, admin)
    assert web.post(f"/admin/security/staff-alerts/{alert_id}/resolve").status_code == 302
    with in_app(web_app, commit=False):
        assert db.session.get(StaffAlert, alert_id).status == "resolved"
