"""Two-factor authentication enforced by a tenant, and always for staff [DPA-B.2fa]."""

import pytest

from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffUser, User
from tenantry.platform.tenancy import Tenant
from tests import factories
from tests.identity.support import (
    STEP0,
    audit_events,
    code_at,
    in_app,
    location,
    login_password,
    login_with_code,
    new_member,
    new_tenant,
    text,
    who,
)

pytestmark = pytest.mark.obligation("DPA-B.2fa")


def _enrol(client) -> str:
    page = client.get("/account/2fa/enrol")
    assert page.status_code == 200
    with client.session_transaction() as sess:
        secret = sess["enrol_secret"]
    done = client.post("/account/2fa/enrol", data={"code": code_at(secret, STEP0)})
    assert done.status_code == 200, done.status_code
    return secret


def test_a_member_without_2fa_is_sent_to_enrolment_and_kept_out_until_enrolled(web_app, web, frozen):
    tenant = new_tenant(web_app, require_2fa=True)
    member = new_member(web_app, tenant, "member")

    response = login_password(web, member.email)

    assert response.status_code == 302
    assert location(response).startswith("/account/2fa/enrol") and "required=1" in location(response)
    for path in (f"/t/{tenant.slug}/", f"/t/{tenant.slug}/members", f"/t/{tenant.slug}/agreement"):
        blocked = web.get(path)
        assert blocked.status_code == 302 and location(blocked).startswith("/account/2fa/enrol"), path
    # A POST is kept out as well.
    assert location(web.post(f"/t/{tenant.slug}/members/invite", data={"email": "x@example.com"})
                    ).startswith("/account/2fa/enrol")

    _enrol(web)

    assert web.get(f"/t/{tenant.slug}/").status_code == 200
    assert web.get(f"/t/{tenant.slug}/members").status_code == 200


def test_turning_the_requirement_on_catches_members_already_signed_in(web_app, web, frozen):
    tenant = new_tenant(web_app)
    member = new_member(web_app, tenant, "viewer")
    login_password(web, member.email)
    assert web.get(f"/t/{tenant.slug}/").status_code == 200
    with in_app(web_app):
        db.session.get(Tenant, tenant.id).require_2fa = True
    assert location(web.get(f"/t/{tenant.slug}/")).startswith("/account/2fa/enrol")


def test_a_member_with_2fa_signs_in_with_a_code(web_app, web, frozen):
    tenant = new_tenant(web_app, require_2fa=True)
    member = new_member(web_app, tenant, "member", with_totp=True)
    assert location(login_password(web, member.email)) == "/login/2fa"
    response = web.post("/login/2fa", data={"code": code_at(member.secret, STEP0)})
    assert location(response) == f"/t/{tenant.slug}/"
    assert web.get(f"/t/{tenant.slug}/").status_code == 200


def test_2fa_cannot_be_turned_off_while_a_tenant_requires_it(web_app, web, frozen):
    tenant = new_tenant(web_app, require_2fa=True)
    member = new_member(web_app, tenant, "member", with_totp=True)
    login_with_code(web, member, code_at(member.secret, STEP0))
    assert "cannot be turned off" in text(web.get("/account"))
    response = web.post("/account/2fa/disable", data={"disable-password": factories.PASSWORD,
                                                      "disable-code": code_at(member.secret, STEP0 + 1)})
    assert response.status_code == 302
    with in_app(web_app, commit=False):
        assert db.session.get(User, member.id).has_totp


def test_2fa_can_be_turned_off_with_password_and_code_when_not_required(web_app, web, frozen):
    tenant = new_tenant(web_app)
    member = new_member(web_app, tenant, "member", with_totp=True)
    login_with_code(web, member, code_at(member.secret, STEP0))
    wrong = web.post("/account/2fa/disable", data={"disable-password": "wrong-password-123",
                                                   "disable-code": code_at(member.secret, STEP0 + 1)})
    assert wrong.status_code == 302
    with in_app(web_app, commit=False):
        assert db.session.get(User, member.id).has_totp
    web.post("/account/2fa/disable", data={"disable-password": factories.PASSWORD,
                                           "disable-code": code_at(member.secret, STEP0 + 1)})
    with in_app(web_app, commit=False):
        assert not db.session.get(User, member.id).has_totp
    assert audit_events(web_app, "auth.2fa.disabled")


# --- staff --------------------------------------------------------------------------------


def _staff(app, *, with_totp: bool, role: str = "platform-admin"):
    with in_app(app):
        return who(factories.make_staff(role, with_totp=with_totp))


def test_the_console_needs_sign_in(web):
    response = web.get("/admin/")
    assert response.status_code == 302 and location(response).startswith("/admin/login")


def test_staff_without_totp_are_sent_to_enrolment(web_app, web, frozen):
    staff = _staff(web_app, with_totp=False)

    response = web.post("/admin/login", data={"email": staff.email, "password": factories.PASSWORD})

    assert response.status_code == 302 and location(response).startswith("/account/2fa/enrol")
    blocked = web.get("/admin/")
    assert blocked.status_code == 302 and location(blocked).startswith("/account/2fa/enrol")

    _enrol(web)

    dashboard = web.get("/admin/")
    assert dashboard.status_code == 200


def test_staff_with_totp_see_the_dashboard(web_app, web, frozen):
    staff = _staff(web_app, with_totp=True)
    assert location(web.post("/admin/login", data={"email": staff.email, "password": factories.PASSWORD})
                    ) == "/login/2fa"
    assert web.get("/admin/").status_code == 302  # the password alone is not enough
    response = web.post("/login/2fa", data={"code": code_at(staff.secret, STEP0)})
    assert location(response) == "/admin/"
    page = web.get("/admin/")
    assert page.status_code == 200
    assert staff.email in text(page)
    assert [e["actor_type"] for e in audit_events(web_app, "auth.staff.login")] == ["staff"]


def test_tenant_users_get_404_at_the_console_and_staff_at_tenant_pages(web_app, frozen):
    tenant = new_tenant(web_app)
    user = web_app.test_client()
    login_password(user, tenant.owner.email)
    assert user.get("/admin/").status_code == 404

    staff = _staff(web_app, with_totp=True)
    console = web_app.test_client()
    login_with_code(console, staff, code_at(staff.secret, STEP0))
    assert console.get("/admin/").status_code == 200
    assert console.get(f"/t/{tenant.slug}/").status_code == 404


def test_staff_and_tenant_accounts_are_separate(web_app, web, frozen):
    tenant = new_tenant(web_app)
    # A tenant user's credentials do not open the staff sign-in, and the reverse.
    assert web.post("/admin/login", data={"email": tenant.owner.email,
                                          "password": factories.PASSWORD}).status_code == 422
    staff = _staff(web_app, with_totp=False)
    assert web.post("/login", data={"email": staff.email, "password": factories.PASSWORD}).status_code == 422
    with in_app(web_app, commit=False):
        assert db.session.get(StaffUser, staff.id) is not None


@pytest.mark.obligation("TT-least-privilege")
def test_only_platform_admins_see_the_staff_accounts(web_app, frozen):
    admin = _staff(web_app, with_totp=True)
    dpo = _staff(web_app, with_totp=True, role="dpo")
    admin_client, dpo_client = web_app.test_client(), web_app.test_client()
    login_with_code(admin_client, admin, code_at(admin.secret, STEP0))
    login_with_code(dpo_client, dpo, code_at(dpo.secret, STEP0))
    admin_page = text(admin_client.get("/admin/staff/"))
    assert "Staff accounts" in admin_page and dpo.email in admin_page
    refused = dpo_client.get("/admin/staff/")
    assert refused.status_code == 403 and admin.email not in text(refused)
    assert "/admin/staff/" not in text(dpo_client.get("/admin/"))
