"""The console's tenant pages: numbers and dates, never a tenant's personal data; support sees
only the tenants that granted them access."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffUser
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies, contacts
from tests import factories
from tests.admin.test_role_matrix import _fill, admin_rules
from tests.tenants.crm.isolation_objects import _activity, _deal

CANARIES = ("Kanárková", "canary.person@example.com", "+420777123456", "Canary Member", "canary.member@example.com")


@pytest.fixture
def console(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        tenant = factories.make_tenant("acme", name="Acme Trading")
        factories.add_member(tenant, factories.make_user("canary.member@example.com", name="Canary Member"),
                             role="viewer")
        with tenant_context(tenant):
            company = companies.create(companies.CompanyData(name="Kanárková s.r.o.", country="CZ"))
            for first in ("Jana", "Petr"):
                contacts.create(contacts.ContactData(first_name=first, last_name="Kanárková",
                                                     emails=["canary.person@example.com"],
                                                     phones=["+420777123456"], company_id=company.id))
        _deal(tenant)
        _activity(tenant)  # adds a second company as the activity's subject
        gone = factories.make_tenant("gone", name="Gone Ltd")
        gone.status = "cancelled"
        gone.cancelled_at = clock.now() - timedelta(days=3)
        gone.deletion_due_at = gone.cancelled_at + timedelta(days=80)
        staff = {role: factories.make_staff(role) for role in ("platform-admin", "dpo", "support")}
        db.session.commit()
        ids = {"acme": tenant.id, "gone": gone.id, "due": gone.deletion_due_at.strftime("%Y-%m-%d"),
               "cancelled": gone.cancelled_at.strftime("%Y-%m-%d"),
               "staff": {r: (s.id, s._test_secret) for r, s in staff.items()}}
    return ids


def _as(app, console, role):
    client = app.test_client()
    with app.app_context():
        staff_id, secret = console["staff"][role]
        person = db.session.get(StaffUser, staff_id)
        person._test_secret = secret
        factories.sign_in(client, person)
    return client


def _cells(html: str, name: str) -> list[str]:
    row = re.search(rf"<tr>\s*<td><a [^>]*>{re.escape(name)}</a>.*?</tr>", html, re.S)
    assert row, f"no row for {name}"
    return [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td>(.*?)</td>", row.group(0), re.S)]


@pytest.mark.obligation("DPA-4.1", "DPA-4.5")
def test_the_tenant_list_shows_status_plan_dates_counts_and_key_versions(app, console):
    html = _as(app, console, "platform-admin").get("/admin/tenants/").get_data(as_text=True)
    acme = _cells(html, "Acme Trading")
    # name+slug, status, plan, created, cancelled, deletion, members, contacts, companies, deals, activities, keys
    assert acme[1:3] == [["active"], ["standard"]]
    assert acme[4:11] == [["—"], ["—"], ["2"], ["2"], ["2"], ["1"], ["1"]]
    assert "data" in " ".join(acme[11])
    gone = _cells(html, "Gone Ltd")
    assert gone[1] == ["cancelled"]
    assert gone[4:6] == [[console["cancelled"]], [console["due"]]]
    assert gone[6:11] == [["1"], ["0"], ["0"], ["0"], ["0"]]


def test_the_tenant_detail_shows_the_same_facts_and_the_support_grants(app, console):
    client = _as(app, console, "platform-admin")
    html = client.get(f"/admin/tenants/{console['acme']}").get_data(as_text=True)
    assert re.search(r"<dt>Members</dt><dd>2</dd>", html)
    assert re.search(r"<dt>Contacts</dt><dd>2</dd>", html)
    assert re.search(r"<dt>Country and law</dt><dd>\w[\w ]+ \([A-Z]{2}\), GDPR</dd>", html), html
    assert "Support access granted by the tenant" in html
    assert client.get(f"/admin/tenants/{console['gone']}").status_code == 200


@pytest.mark.obligation("DPA-4.1", "DPA-4.3.2", "DPA-4.5", "TT-least-privilege")
@pytest.mark.parametrize("role", ["platform-admin", "dpo", "support"])
def test_no_admin_page_shows_a_tenants_personal_data(app, console, role):
    client = _as(app, console, role)
    ids = {"tenant_id": str(console["acme"])}
    seen = 0
    for rule in admin_rules(app):
        if "GET" not in rule.methods:
            continue
        response = client.get(_fill(rule, ids))
        body = response.get_data(as_text=True)
        for canary in CANARIES:
            assert canary not in body, f"{rule.rule} shows {canary!r} to {role}"
        seen += response.status_code == 200
    assert seen >= 3


@pytest.mark.obligation("DPA-4.3.2", "TT-least-privilege")
def test_support_sees_only_tenants_that_granted_them_access(app, console):
    from tenantry.tenants.support_grants import SupportGrant

    client = _as(app, console, "support")
    assert "No tenant has granted you access" in client.get("/admin/tenants/").get_data(as_text=True)
    with app.app_context():
        with tenant_context(db.session.get(Tenant, console["acme"])):
            now = clock.now()
            db.session.add(SupportGrant(staff_id=console["staff"]["support"][0], ticket_ref="SUP-7",
                                        scope="read-only", created_at=now, expires_at=now + timedelta(hours=2)))
        db.session.commit()
    html = client.get("/admin/tenants/").get_data(as_text=True)
    assert "Acme Trading" in html and "SUP-7" in html and "/t/acme/" in html
    assert "Gone Ltd" not in html
    assert "Acme Trading" in client.get("/admin/").get_data(as_text=True)
    assert client.get(f"/admin/tenants/{console['acme']}").status_code == 403


def test_the_navigation_lists_each_roles_pages_only(app, console):
    def nav(role):
        html = _as(app, console, role).get("/admin/").get_data(as_text=True)
        block = re.search(r'<nav aria-label="Console">(.*?)</nav>', html, re.S).group(1)
        return re.findall(r">([^<]+)</a>", block)

    # One sign-in per role: a second one in the same 30-second step would reuse its TOTP code.
    admin = nav("platform-admin")
    assert admin[:6] == ["Console", "Tenants", "Staff", "Agreement versions", "Subprocessors", "Audits"]
    assert {"Jobs and notices", "Security", "Cancellations and deletions", "Special categories"} <= set(admin)
    dpo = nav("dpo")
    assert {"Incidents", "Cooperation requests", "Breach register (CSV)"} <= set(dpo)
    assert not {"Tenants", "Staff", "Jobs and notices"} & set(dpo)
    assert nav("support") == ["Console", "Tenants", "Your notices"]
