"""Server-side sessions: idle and absolute limits, and ending the other sessions of an account."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession, User
from tests import factories
from tests.factories import PASSWORD
from tests.identity.support import (
    NEW_PASSWORD,
    NO_LIMIT,
    STEP0,
    code_at,
    in_app,
    location,
    login_password,
    login_with_code,
    new_tenant,
    who,
)


def _in(client, slug) -> bool:
    response = client.get(f"/t/{slug}/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and location(response).startswith("/login"), response.status_code
    return False


def _reasons(app, user_id) -> list[str | None]:
    with in_app(app, commit=False):
        return list(db.session.execute(
            sa.select(AuthSession.revoked_reason).where(AuthSession.user_id == user_id)
            .order_by(AuthSession.created_at)
        ).scalars())


def test_a_session_idle_for_31_minutes_is_over(web_app, web, frozen):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    frozen.shift(timedelta(minutes=31))

    response = web.get(f"/t/{tenant.slug}/")

    assert response.status_code == 302 and location(response).startswith("/login")
    assert _reasons(web_app, tenant.owner.id) == ["expired"]
    # Going back in time does not revive it.
    frozen.shift(timedelta(minutes=-30))
    assert not _in(web, tenant.slug)


def test_a_session_idle_for_29_minutes_goes_on_and_activity_extends_it(web_app, web, frozen):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    for _ in range(4):  # 4 x 29 minutes: longer than the idle limit in total, never idle that long
        frozen.shift(timedelta(minutes=29))
        assert _in(web, tenant.slug)
    assert _reasons(web_app, tenant.owner.id) == [None]


def test_a_session_ends_after_12_hours_even_when_active(web_app, web, frozen):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    for _ in range(35):  # every 20 minutes for 11 h 40 min
        frozen.shift(timedelta(minutes=20))
        assert _in(web, tenant.slug)
    frozen.shift(timedelta(minutes=19))  # 11 h 59 min
    assert _in(web, tenant.slug)
    frozen.shift(timedelta(minutes=2))  # 12 h 1 min
    assert not _in(web, tenant.slug)
    assert _reasons(web_app, tenant.owner.id) == ["expired"]


def test_session_limits_are_configurable(make_app, frozen):
    app = make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                   TENANTRY_SESSION_IDLE_MINUTES="5", TENANTRY_SESSION_MAX_HOURS="1")
    tenant = new_tenant(app)
    idle, active = app.test_client(), app.test_client()
    login_password(idle, tenant.owner.email)
    login_password(active, tenant.owner.email)

    frozen.shift(timedelta(minutes=4))
    assert _in(active, tenant.slug)
    frozen.shift(timedelta(minutes=2))  # idle: 6 minutes
    assert not _in(idle, tenant.slug)
    assert _in(active, tenant.slug)  # 2 minutes since its last request

    for _ in range(13):  # active every 4 minutes up to 58 minutes
        frozen.shift(timedelta(minutes=4))
        assert _in(active, tenant.slug)
    frozen.shift(timedelta(minutes=3))  # 61 minutes
    assert not _in(active, tenant.slug)


def test_invalid_session_limits_are_refused(make_app):
    from tenantry.platform.config import ConfigError

    with pytest.raises(ConfigError):
        make_app(TENANTRY_SESSION_IDLE_MINUTES="0")
    with pytest.raises(ConfigError):
        make_app(TENANTRY_SESSION_MAX_HOURS="twelve")


@pytest.mark.obligation("DPA-B.password")
def test_changing_the_password_ends_the_other_sessions(web_app, frozen):
    tenant = new_tenant(web_app)
    a, b = web_app.test_client(), web_app.test_client()
    login_password(a, tenant.owner.email)
    login_password(b, tenant.owner.email)
    assert _in(a, tenant.slug) and _in(b, tenant.slug)

    response = a.post("/account/password", data={"current": PASSWORD, "password": NEW_PASSWORD,
                                                 "confirm": NEW_PASSWORD})

    assert response.status_code == 302
    assert _in(a, tenant.slug)
    assert not _in(b, tenant.slug)
    assert sorted(map(str, _reasons(web_app, tenant.owner.id))) == ["None", "password changed"]
    # The old password no longer signs in; the new one does.
    c = web_app.test_client()
    assert login_password(c, tenant.owner.email).status_code == 422
    assert login_password(c, tenant.owner.email, NEW_PASSWORD).status_code == 302


@pytest.mark.obligation("DPA-B.2fa")
def test_enrolling_a_new_2fa_secret_ends_the_other_sessions(web_app, frozen):
    tenant = new_tenant(web_app)
    with in_app(web_app):
        user = db.session.get(User, tenant.owner.id)
        factories.enable_totp(user)
        person = who(user)
    a, b = web_app.test_client(), web_app.test_client()
    assert login_with_code(a, person, code_at(person.secret, STEP0)).status_code == 302
    assert login_with_code(b, person, code_at(person.secret, STEP0 + 1)).status_code == 302

    a.get("/account/2fa/enrol")
    with a.session_transaction() as sess:
        new_secret = sess["enrol_secret"]
    frozen.shift(30)  # a code of the current authenticator that was not used yet
    assert a.post("/account/2fa/enrol", data={
        "code": code_at(new_secret, STEP0 + 1), "current_password": PASSWORD,
        "current_code": code_at(person.secret, STEP0 + 2),
    }).status_code == 200

    assert _in(a, tenant.slug)
    assert not _in(b, tenant.slug)
    assert "2fa secret changed" in _reasons(web_app, person.id)
    # Only the new secret signs in from now on.
    a.post("/logout")
    assert login_with_code(a, person, code_at(person.secret, STEP0 + 2)).status_code == 422
    assert login_with_code(a, person, code_at(new_secret, STEP0 + 2)).status_code == 302


def test_signing_out_the_other_sessions_from_the_account_page(web_app, frozen):
    tenant = new_tenant(web_app)
    a, b = web_app.test_client(), web_app.test_client()
    login_password(a, tenant.owner.email)
    login_password(b, tenant.owner.email)
    assert a.post("/account/sessions/end-others").status_code == 302
    assert _in(a, tenant.slug) and not _in(b, tenant.slug)


def test_the_account_page_lists_the_active_sessions(web_app, frozen):
    tenant = new_tenant(web_app)
    a, b = web_app.test_client(), web_app.test_client()
    login_password(a, tenant.owner.email, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    login_password(b, tenant.owner.email, environ_base={"REMOTE_ADDR": "198.51.100.2"})
    page = a.get("/account").get_data(as_text=True)
    assert "198.51.100.1" in page and "198.51.100.2" in page
    b.post("/logout")
    page = a.get("/account").get_data(as_text=True)
    assert "198.51.100.1" in page and "198.51.100.2" not in page


def test_an_expired_session_on_an_account_page_is_sent_to_sign_in(web_app, web, frozen):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    frozen.shift(timedelta(minutes=31))
    response = web.get("/account")
    assert response.status_code == 302 and location(response).startswith("/login")


def test_deactivating_an_account_ends_its_sessions(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    with in_app(web_app):
        db.session.get(User, tenant.owner.id).active = False
    assert not _in(web, tenant.slug)
