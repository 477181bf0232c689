"""Sign-in with a password: where it lands, how it fails, the session it starts and ends."""

import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession
from tests.factories import PASSWORD
from tests.identity.support import (
    field_errors,
    in_app,
    location,
    login_password,
    new_tenant,
    text,
)

COOKIE = "tenantry_session"


def _session_rows(app, user_id):
    with in_app(app, commit=False):
        return [
            (r.revoked_at, r.revoked_reason, r.ip)
            for r in db.session.execute(
                sa.select(AuthSession).where(AuthSession.user_id == user_id).order_by(AuthSession.created_at)
            ).scalars()
        ]


def test_right_password_without_2fa_signs_in_to_the_tenant(web_app, web):
    tenant = new_tenant(web_app)

    response = login_password(web, tenant.owner.email)

    assert response.status_code == 302
    assert location(response) == f"/t/{tenant.slug}/"
    page = web.get(f"/t/{tenant.slug}/")
    assert page.status_code == 200
    assert tenant.owner.email in text(page)


def test_e_mail_is_matched_case_insensitively(web_app, web):
    tenant = new_tenant(web_app)
    response = login_password(web, tenant.owner.email.upper())
    assert response.status_code == 302 and location(response) == f"/t/{tenant.slug}/"


def test_wrong_password_and_unknown_e_mail_give_the_same_error_and_are_audited(web_app, web):
    from tenantry.platform.audit import AuditEvent

    tenant = new_tenant(web_app)

    wrong = login_password(web, tenant.owner.email, "not-the-password-at-all-9")
    unknown = login_password(web, "nobody-here@example.com", PASSWORD)

    assert wrong.status_code == unknown.status_code == 422
    assert field_errors(text(wrong), "password") == field_errors(text(unknown), "password")
    assert field_errors(text(wrong), "password") == ["The e-mail or the password is not right."]
    assert field_errors(text(wrong), "email") == field_errors(text(unknown), "email") == []
    # Nobody is signed in.
    assert location(web.get(f"/t/{tenant.slug}/")).startswith("/login")

    with in_app(web_app, commit=False):
        events = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "auth.user.login").order_by(AuditEvent.id)
        ).scalars().all()
        assert [e.outcome for e in events] == ["failure", "failure"]
        assert events[0].actor_type == "user" and events[0].actor_id == str(tenant.owner.id)
        assert events[1].actor_type == "anonymous" and events[1].actor_id is None
        # The failed attempt does not write the password or the e-mail into the trail.
        for e in events:
            assert "not-the-password" not in str(e.details) and "nobody-here" not in str(e.details)


def test_successful_sign_in_is_audited(web_app, web):
    from tenantry.platform.audit import AuditEvent

    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    with in_app(web_app, commit=False):
        event = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "auth.user.login")
        ).scalar_one()
        assert (event.outcome, event.actor_id, event.ip) == ("success", str(tenant.owner.id), "198.51.100.7")


def test_an_inactive_account_cannot_sign_in(web_app, web):
    from tenantry.platform.identity.models import User

    tenant = new_tenant(web_app)
    with in_app(web_app):
        db.session.get(User, tenant.owner.id).active = False
    response = login_password(web, tenant.owner.email)
    assert response.status_code == 422
    assert field_errors(text(response), "password") == ["The e-mail or the password is not right."]


def test_sign_in_starts_a_new_session_and_drops_what_was_there(web_app, web):
    tenant = new_tenant(web_app)
    web.get("/login")
    with web.session_transaction() as sess:
        sess["planted"] = "by someone before sign-in"
        sess["_user_id"] = "forged-token"
    before = web.get_cookie(COOKIE).value

    assert login_password(web, tenant.owner.email).status_code == 302

    after = web.get_cookie(COOKIE).value
    assert after != before
    with web.session_transaction() as sess:
        assert "planted" not in sess
        first_token = sess["_user_id"]
        assert first_token != "forged-token"

    # A second sign-in gets yet another session id, and a new server-side row.
    web.post("/logout")
    assert login_password(web, tenant.owner.email).status_code == 302
    with web.session_transaction() as sess:
        assert sess["_user_id"] != first_token
    rows = _session_rows(web_app, tenant.owner.id)
    assert len(rows) == 2
    # Only the hash of the token is stored.
    with in_app(web_app, commit=False):
        hashes = db.session.execute(sa.select(AuthSession.token_hash)).scalars().all()
    assert first_token not in hashes


def test_logout_revokes_the_server_side_session(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    stolen = web.get_cookie(COOKIE).value  # a copy of the signed-in cookie

    response = web.post("/logout")

    assert response.status_code == 302 and location(response) == "/login"
    [(revoked_at, reason, _ip)] = _session_rows(web_app, tenant.owner.id)
    assert revoked_at is not None and reason == "signed out"
    # The copied cookie no longer signs anyone in: the session ended on the server.
    other = web_app.test_client()
    other.set_cookie(COOKIE, stolen)
    assert location(other.get(f"/t/{tenant.slug}/")).startswith("/login")


def test_logout_needs_post(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    assert web.get("/logout").status_code == 405
    assert web.get(f"/t/{tenant.slug}/").status_code == 200


def test_next_is_followed_only_within_the_site(web_app, web):
    tenant = new_tenant(web_app)
    response = web.post("/login?next=https://evil.example.com/x",
                        data={"email": tenant.owner.email, "password": PASSWORD})
    assert location(response) == f"/t/{tenant.slug}/"
    web.post("/logout")
    response = web.post(f"/login?next=/t/{tenant.slug}/members",
                        data={"email": tenant.owner.email, "password": PASSWORD})
    assert location(response) == f"/t/{tenant.slug}/members"
    web.post("/logout")
    response = web.post("/login?next=//evil.example.com/x", data={"email": tenant.owner.email, "password": PASSWORD})
    assert location(response) == f"/t/{tenant.slug}/"


def test_passwords_are_stored_as_argon2id_with_production_strength(web_app):
    from argon2 import Type

    from tests.identity.support import PRODUCTION_HASHER

    tenant = new_tenant(web_app)
    with in_app(web_app, commit=False):
        from tenantry.platform.identity.models import User

        stored = db.session.get(User, tenant.owner.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    # The module's own hasher (the tests swap in a cheap one): argon2id, at least OWASP's minimum.
    real = PRODUCTION_HASHER
    assert real.type is Type.ID
    assert real.memory_cost >= 19 * 1024 and real.time_cost >= 2
