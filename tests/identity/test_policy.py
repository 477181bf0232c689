"""The tenant's password policy: length, common passwords, maximum age [DPA-B.password]."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity import passwords, policy
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import Tenant
from tests import factories
from tests.factories import PASSWORD
from tests.identity.support import (
    field_errors,
    in_app,
    location,
    login_password,
    new_member,
    new_tenant,
    text,
)

pytestmark = pytest.mark.obligation("DPA-B.password")

STRONG_11 = "Zq8-vWm4-kT"
STRONG_12 = "Zq8-vWm4-kT7"
STRONG_15 = "Zq8-vWm4-kT7xR2"
STRONG_16 = "Zq8-vWm4-kT7xR2p"


def _change(client, new, current=PASSWORD):
    return client.post("/account/password", data={"current": current, "password": new, "confirm": new})


def _set_tenant(app, tenant, **values):
    with in_app(app):
        t = db.session.get(Tenant, tenant.id)
        for k, v in values.items():
            setattr(t, k, v)


def _age_password(app, user_id, days):
    with in_app(app):
        db.session.get(User, user_id).password_changed_at = clock.now() - timedelta(days=days)


def test_twelve_characters_by_default(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)

    short = _change(web, STRONG_11)

    assert short.status_code == 422
    assert field_errors(text(short), "password") == ["Use at least 12 characters."]
    assert login_password(web_app.test_client(), tenant.owner.email).status_code == 302  # unchanged
    assert _change(web, STRONG_12).status_code == 302


def test_a_tenant_can_demand_sixteen(web_app, web):
    tenant = new_tenant(web_app, password_min_length=16)
    login_password(web, tenant.owner.email)

    short = _change(web, STRONG_15)

    assert short.status_code == 422
    assert field_errors(text(short), "password") == ["Use at least 16 characters."]
    assert _change(web, STRONG_16).status_code == 302


def test_the_strictest_of_the_persons_tenants_applies(web_app, web):
    lax = new_tenant(web_app)
    strict = new_tenant(web_app, password_min_length=16)
    with in_app(web_app):
        factories.add_member(db.session.get(Tenant, strict.id), db.session.get(User, lax.owner.id), "viewer")
    login_password(web, lax.owner.email)
    assert field_errors(text(_change(web, STRONG_15)), "password") == ["Use at least 16 characters."]


@pytest.mark.parametrize("common", ["password1234", "qwertyuiop123"])
def test_common_passwords_are_refused(web_app, web, common):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    response = _change(web, common)
    assert response.status_code == 422
    [error] = field_errors(text(response), "password")
    assert "too common or too easy to guess" in error


def test_a_password_made_of_the_persons_e_mail_is_refused(web_app, web):
    tenant = new_tenant(web_app, slug="harbourmaster")
    login_password(web, tenant.owner.email)
    response = _change(web, tenant.owner.email)  # owner-harbourmaster@example.com
    assert response.status_code == 422 and field_errors(text(response), "password")


def test_the_current_password_is_needed_to_change_it(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    response = _change(web, STRONG_16, current="not-the-current-one-1")
    assert response.status_code == 422
    assert field_errors(text(response), "current") == ["Your current password is not right."]
    assert login_password(web_app.test_client(), tenant.owner.email).status_code == 302


def test_never_below_eight_characters():
    assert passwords.problems("Zq8vWm4", min_length=4) == ["Use at least 8 characters."]
    assert passwords.problems("Zq8vWm4", min_length=0) == ["Use at least 8 characters."]


def test_the_database_refuses_a_minimum_below_eight(app_ctx):
    tenant = Tenant(slug="low-floor", name="Low", country="CZ", password_min_length=7)
    db.session.add(tenant)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(Tenant(slug="at-floor", name="At", country="CZ", password_min_length=8))
    db.session.flush()
    with pytest.raises(IntegrityError):
        db.session.execute(sa.update(Tenant).values(password_min_length=7))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.add(Tenant(slug="neg-age", name="Neg", country="CZ", password_max_age_days=-1))
        db.session.flush()
    db.session.rollback()


def test_an_expired_password_must_be_changed_at_sign_in(web_app, web):
    tenant = new_tenant(web_app, password_max_age_days=30)
    _age_password(web_app, tenant.owner.id, 31)

    response = login_password(web, tenant.owner.email)

    assert response.status_code == 302
    assert location(response).startswith("/account/password") and "expired=1" in location(response)
    for path in (f"/t/{tenant.slug}/", f"/t/{tenant.slug}/members", "/account", "/workspaces"):
        blocked = web.get(path)
        assert blocked.status_code == 302 and location(blocked).startswith("/account/password"), path
    assert "expired" in text(web.get(location(response))).lower()

    changed = _change(web, STRONG_16)

    assert changed.status_code == 302
    assert web.get(f"/t/{tenant.slug}/").status_code == 200
    assert web.get(f"/t/{tenant.slug}/members").status_code == 200


def test_a_password_within_its_age_is_fine(web_app, web):
    tenant = new_tenant(web_app, password_max_age_days=30)
    _age_password(web_app, tenant.owner.id, 29)
    response = login_password(web, tenant.owner.email)
    assert location(response) == f"/t/{tenant.slug}/"
    assert web.get(f"/t/{tenant.slug}/").status_code == 200


def test_a_password_expiring_while_signed_in_is_caught_on_the_next_page(web_app, web, frozen):
    tenant = new_tenant(web_app, password_max_age_days=30)
    _age_password(web_app, tenant.owner.id, 30)
    assert location(login_password(web, tenant.owner.email)) == f"/t/{tenant.slug}/"
    frozen.shift(timedelta(minutes=10))
    assert location(web.get(f"/t/{tenant.slug}/")).startswith("/account/password")


def test_zero_means_passwords_never_expire(web_app, web):
    tenant = new_tenant(web_app, password_max_age_days=0)
    _age_password(web_app, tenant.owner.id, 3650)
    assert location(login_password(web, tenant.owner.email)) == f"/t/{tenant.slug}/"
    assert web.get(f"/t/{tenant.slug}/").status_code == 200


def test_a_members_password_age_follows_the_tenants_policy(web_app, web):
    tenant = new_tenant(web_app)
    member = new_member(web_app, tenant, "member")
    _age_password(web_app, member.id, 100)
    assert location(login_password(web, member.email)) == f"/t/{tenant.slug}/"
    web.post("/logout")
    _set_tenant(web_app, tenant, password_max_age_days=90)
    assert location(login_password(web, member.email)).startswith("/account/password")


def test_policy_for_a_person_without_tenants_is_the_default(app_ctx):
    user = factories.make_user()
    assert policy.policy_for(user) == policy.Policy(min_length=12, max_age_days=0, require_2fa=False)
    staff = factories.make_staff()
    assert policy.policy_for(staff).require_2fa is True
    assert policy.policy_for(staff).min_length >= 12


def test_the_new_password_must_differ_from_the_current_one(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    response = _change(web, PASSWORD)
    assert response.status_code == 422
    assert field_errors(text(response), "password") == ["Choose a password different from the current one."]


def test_the_two_new_passwords_must_match(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    response = web.post("/account/password", data={"current": PASSWORD, "password": STRONG_16,
                                                   "confirm": STRONG_16 + "x"})
    assert response.status_code == 422
    assert field_errors(text(response), "confirm") == ["The two passwords differ."]
