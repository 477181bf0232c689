"""The anomaly rules fire at their threshold and not one below, per tenant, once per burst
[TT-activity-log, DPA-B.monitoring]."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.anomalies import rules
from tenantry.tenants.anomalies.models import AlertSettings, ApiUsageHour
from tests.identity.support import T0, count, in_app, new_member, new_tenant
from tests.tenants.anomalies.support import alerts, ids, read_contacts, record, run_jobs

OBLIGATIONS = ("TT-activity-log", "DPA-B.monitoring")


def _set(app, tenant_id, **values):
    with in_app(app), all_tenants():
        row = db.session.get(AlertSettings, tenant_id)
        if row is None:
            with tenant_context(db.session.get(Tenant, tenant_id)):
                row = rules.settings_for(tenant_id)
                db.session.add(row)
        for key, value in values.items():
            setattr(row, key, value)


@pytest.mark.obligation(*OBLIGATIONS)
def test_reading_200_distinct_contacts_is_no_alert_and_201_is_one(web_app, frozen):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme)
    # 200 distinct contacts in pages, some shown twice: still 200 different ones.
    read_contacts(web_app, acme.id, bob.id, ids(200))
    read_contacts(web_app, acme.id, bob.id, ids(40))
    assert alerts(web_app) == []
    frozen.shift(60)
    read_contacts(web_app, acme.id, bob.id, ids(1, start=200))
    [alert] = alerts(web_app, acme.id)
    assert (alert["rule"], alert["subject_id"], alert["observed"], alert["threshold"]) == (
        "mass_read", str(bob.id), 201, 200)


@pytest.mark.obligation(*OBLIGATIONS)
def test_reads_older_than_ten_minutes_do_not_count(web_app, frozen):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme)
    read_contacts(web_app, acme.id, bob.id, ids(150))
    frozen.shift(timedelta(minutes=10, seconds=1))
    read_contacts(web_app, acme.id, bob.id, ids(100, start=150))
    assert alerts(web_app) == []


@pytest.mark.obligation(*OBLIGATIONS)
def test_each_tenant_has_its_own_read_threshold(web_app, frozen):
    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob, eve = new_member(web_app, acme), new_member(web_app, beta)
    _set(web_app, acme.id, mass_read_threshold=50)
    read_contacts(web_app, acme.id, bob.id, ids(50))
    read_contacts(web_app, beta.id, eve.id, ids(51))
    assert alerts(web_app) == []
    read_contacts(web_app, acme.id, bob.id, ids(1, start=50))
    [alert] = alerts(web_app)
    assert (alert["tenant_id"], alert["observed"], alert["threshold"]) == (acme.id, 51, 50)
    _set(web_app, acme.id, mass_read_enabled=False)
    frozen.shift(timedelta(hours=1))
    read_contacts(web_app, acme.id, bob.id, ids(300))
    assert len(alerts(web_app)) == 1


@pytest.mark.obligation(*OBLIGATIONS)
def test_one_burst_makes_one_alert_and_a_later_burst_another(web_app, frozen, outbox):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme)
    for minute in range(8):
        read_contacts(web_app, acme.id, bob.id, ids(60, start=minute * 60))
        frozen.shift(60)
    [alert] = alerts(web_app)
    assert alert["observed"] == 480 and alert["events"] == 5  # raised at 240, extended 4 times
    assert len([m for m in outbox.messages() if "Security alert" in m["Subject"]]) == 1
    frozen.shift(timedelta(minutes=30))
    read_contacts(web_app, acme.id, bob.id, ids(201, start=1000))
    assert [a["observed"] for a in alerts(web_app)] == [480, 201]


@pytest.mark.obligation(*OBLIGATIONS)
def test_an_alert_is_an_in_app_notice_and_an_email_to_every_owner(web_app, frozen, outbox):
    acme = new_tenant(web_app, "acme")
    second_owner = new_member(web_app, acme, "owner")
    admin = new_member(web_app, acme, "admin")
    bob = new_member(web_app, acme)
    record(web_app, "crm.contacts.exported", acme.id, bob.id)
    [alert] = alerts(web_app, acme.id, "export")
    with in_app(web_app, commit=False), all_tenants():
        notes = db.session.execute(sa.select(Notification).where(Notification.kind == "security.anomaly")).scalars().all()
        assert {n.user_id for n in notes} == {acme.owner.id, second_owner.id}
        assert all(n.in_app and n.tenant_id == acme.id and n.delivery_state == "sent" for n in notes)
        assert "exported data in bulk" in notes[0].body
    mails = [m for m in outbox.messages() if "Security alert" in m["Subject"]]
    assert sorted(m["To"] for m in mails) == sorted([acme.owner.email, second_owner.email])
    assert admin.email not in {m["To"] for m in mails}
    assert "/t/acme/settings/alerts" in mails[0].get_content()
    assert alert["details"] == {"action": "crm.contacts.exported"}


@pytest.mark.obligation(*OBLIGATIONS)
@pytest.mark.parametrize(("role", "alerted"), [("viewer", True), ("member", True), ("admin", False), ("owner", False)])
def test_a_bulk_export_alerts_unless_by_an_owner_or_admin(web_app, frozen, role, alerted):
    acme = new_tenant(web_app, "acme")
    person = new_member(web_app, acme, role)
    record(web_app, "export.requested", acme.id, person.id)
    record(web_app, "crm.contact.updated", acme.id, person.id)  # not an export
    assert len(alerts(web_app, acme.id, "export")) == (1 if alerted else 0)


@pytest.mark.obligation(*OBLIGATIONS)
def test_repeated_exports_within_half_an_hour_are_one_alert(web_app, frozen):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme)
    for _ in range(3):
        record(web_app, "crm.contacts.exported", acme.id, bob.id)
        frozen.shift(timedelta(minutes=20))
    [alert] = alerts(web_app)
    assert alert["events"] == 3
    frozen.shift(timedelta(minutes=31))
    record(web_app, "crm.companies.exported", acme.id, bob.id)
    assert len(alerts(web_app)) == 2


def _usage(app, tenant_id, client_id, hours: dict):
    with in_app(app), all_tenants():
        for hour, requests in hours.items():
            db.session.add(ApiUsageHour(tenant_id=tenant_id, client_id=client_id, hour_start=hour,
                                        requests=requests))


def _requests(app, tenant_id, client_id, n: int):
    for _ in range(n):
        with in_app(app), all_tenants(), tenant_context(db.session.get(Tenant, tenant_id)):
            rules.count_api_request(client_id)
    run_jobs(app)


@pytest.mark.obligation(*OBLIGATIONS)
def test_an_api_client_at_ten_times_its_usual_hourly_volume_is_an_alert(web_app, frozen):
    acme = new_tenant(web_app, "acme")
    _set(web_app, acme.id, api_volume_min_baseline=5)
    hour = rules.hour_of(T0)
    # Usual: 8, 12 and 10 requests in the hours it was used over the last 7 days -> 10 an hour.
    _usage(web_app, acme.id, "client-1", {hour - timedelta(days=1): 8, hour - timedelta(days=2): 12,
                                         hour - timedelta(hours=5): 10, hour - timedelta(days=8): 5000})
    _usage(web_app, acme.id, "client-1", {hour: 98})
    _requests(web_app, acme.id, "client-1", 1)
    assert alerts(web_app) == []  # 99 this hour
    _requests(web_app, acme.id, "client-1", 1)
    [alert] = alerts(web_app)
    assert (alert["rule"], alert["subject_id"], alert["observed"], alert["threshold"]) == (
        "api_volume", "client-1", 100, 100)
    _requests(web_app, acme.id, "client-1", 3)
    assert len(alerts(web_app)) == 1 and alerts(web_app)[0]["events"] == 4


@pytest.mark.obligation(*OBLIGATIONS)
def test_a_new_api_client_with_a_few_requests_is_no_alert(web_app, frozen):
    acme = new_tenant(web_app, "acme")
    _requests(web_app, acme.id, "client-new", 3)
    assert alerts(web_app) == []
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(ApiUsageHour.requests)).scalar_one() == 3
    # The minimum baseline (20 by default) makes its alert level 200 an hour.
    _usage(web_app, acme.id, "client-new", {})
    with in_app(web_app), all_tenants():
        db.session.execute(sa.update(ApiUsageHour).values(requests=198))
    _requests(web_app, acme.id, "client-new", 1)
    assert alerts(web_app) == []
    _requests(web_app, acme.id, "client-new", 1)
    assert [a["threshold"] for a in alerts(web_app)] == [200]


def test_alerts_never_fire_for_another_tenants_events(web_app, frozen):
    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob = new_member(web_app, acme)
    read_contacts(web_app, acme.id, bob.id, ids(201))
    assert [a["tenant_id"] for a in alerts(web_app)] == [acme.id]
    assert count(web_app, Notification, Notification.tenant_id == beta.id) == 0
