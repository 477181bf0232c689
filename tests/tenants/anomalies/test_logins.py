"""Sign-in rules: a new IP for a person, and repeated failures; every workspace of the person is
told, each by its own threshold [TT-activity-log, DPA-B.monitoring]."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants
from tests import factories
from tests.identity.support import in_app, login_password, logout, new_member, new_tenant
from tests.tenants.anomalies.support import alerts

OBLIGATIONS = ("TT-activity-log", "DPA-B.monitoring")


def _from(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def _sign_in_from(web, person, ip: str) -> None:
    response = login_password(web, person.email, **_from(ip))
    assert response.status_code == 302, response.status_code
    logout(web)


def _join(app, tenant, person, role="member"):
    with in_app(app), all_tenants():
        factories.add_member(db.session.get(Tenant, tenant.id), db.session.get(factories.User, person.id), role)


@pytest.mark.obligation(*OBLIGATIONS)
def test_a_sign_in_from_a_never_seen_ip_alerts_every_workspace_of_the_person(web_app, web, frozen, outbox):
    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob = new_member(web_app, acme)
    _join(web_app, beta, bob)
    _sign_in_from(web, bob, "198.51.100.7")  # the first sign-in ever: nothing to compare with
    _sign_in_from(web, bob, "198.51.100.7")
    assert alerts(web_app) == []
    frozen.shift(60)
    _sign_in_from(web, bob, "203.0.113.9")
    raised = alerts(web_app, rule="new_ip")
    assert sorted(a["tenant_id"] for a in raised) == sorted([acme.id, beta.id])
    assert all(a["subject_id"] == str(bob.id) and a["details"] == {"ip": "203.0.113.9"} for a in raised)
    frozen.shift(60)
    _sign_in_from(web, bob, "203.0.113.9")
    _sign_in_from(web, bob, "198.51.100.7")
    assert len(alerts(web_app, rule="new_ip")) == 2
    told = {m["To"] for m in outbox.messages() if "Sign-in from a new IP address" in m["Subject"]}
    assert told == {acme.owner.email, beta.owner.email}


@pytest.mark.obligation(*OBLIGATIONS)
def test_the_new_ip_rule_can_be_switched_off_per_workspace(web_app, web, frozen):
    from tenantry.tenants.anomalies.models import AlertSettings

    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob = new_member(web_app, acme)
    _join(web_app, beta, bob)
    with in_app(web_app), all_tenants():
        db.session.add(AlertSettings(tenant_id=beta.id, new_ip_enabled=False))
    _sign_in_from(web, bob, "198.51.100.7")
    _sign_in_from(web, bob, "203.0.113.9")
    assert [a["tenant_id"] for a in alerts(web_app)] == [acme.id]


def _fail(web, person, times: int) -> None:
    for _ in range(times):
        assert login_password(web, person.email, password="not-the-password-at-all").status_code == 422


@pytest.mark.obligation(*OBLIGATIONS)
def test_four_failed_sign_ins_are_no_alert_and_five_are_one_in_each_workspace(web_app, web, frozen, outbox):
    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob = new_member(web_app, acme)
    _join(web_app, beta, bob, "admin")
    _fail(web, bob, 4)
    assert alerts(web_app) == []
    frozen.shift(60)
    _fail(web, bob, 1)
    raised = alerts(web_app, rule="failed_logins")
    assert sorted(a["tenant_id"] for a in raised) == sorted([acme.id, beta.id])
    assert {(a["observed"], a["threshold"]) for a in raised} == {(5, 5)}
    _fail(web, bob, 3)  # the same burst
    assert [a["events"] for a in alerts(web_app, rule="failed_logins")] == [4, 4]
    told = sorted(m["To"] for m in outbox.messages() if "Repeated failed sign-ins" in m["Subject"])
    assert told == sorted([acme.owner.email, beta.owner.email])


@pytest.mark.obligation(*OBLIGATIONS)
def test_failures_spread_over_more_than_fifteen_minutes_are_no_alert(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme)
    _fail(web, bob, 4)
    frozen.shift(timedelta(minutes=15, seconds=1))
    _fail(web, bob, 4)
    assert alerts(web_app) == []


@pytest.mark.obligation(*OBLIGATIONS)
def test_wrong_two_factor_codes_count_with_wrong_passwords(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    bob = new_member(web_app, acme, with_totp=True)
    _fail(web, bob, 3)
    assert login_password(web, bob.email).status_code == 302
    assert web.post("/login/2fa", data={"code": "000000"}).status_code == 422
    assert alerts(web_app) == []
    assert web.post("/login/2fa", data={"code": "000001"}).status_code == 422
    [alert] = alerts(web_app)
    assert (alert["rule"], alert["observed"]) == ("failed_logins", 5)


@pytest.mark.obligation(*OBLIGATIONS)
def test_a_workspace_with_a_higher_threshold_is_not_told_below_it(web_app, web, frozen):
    from tenantry.tenants.anomalies.models import AlertSettings

    acme, beta = new_tenant(web_app, "acme"), new_tenant(web_app, "beta")
    bob = new_member(web_app, acme)
    _join(web_app, beta, bob)
    with in_app(web_app), all_tenants():
        db.session.add(AlertSettings(tenant_id=beta.id, failed_logins_threshold=6))
    _fail(web, bob, 5)
    assert [a["tenant_id"] for a in alerts(web_app)] == [acme.id]
    _fail(web, bob, 1)
    assert sorted(a["tenant_id"] for a in alerts(web_app)) == sorted([acme.id, beta.id])


def test_failures_for_an_unknown_e_mail_alert_nobody(web_app, web, frozen):
    new_tenant(web_app, "acme")
    for _ in range(6):
        assert login_password(web, "nobody@example.com", password="whatever-it-is").status_code == 422
    assert alerts(web_app) == []
