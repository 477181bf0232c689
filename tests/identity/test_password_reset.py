"""A forgotten password: "Forgot your password?" e-mails a one-time link (the same answer
whether or not the address has an account), the link sets a new password, ends every session
of the old one and starts none, so two-factor is still asked at sign-in; it works once, for an
hour, only the newest; staff and deactivated accounts get none; the requests are rate-limited."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession, User
from tenantry.platform.notify import Notification
from tests.identity.support import (
    NEW_PASSWORD,
    OTHER_PASSWORD,
    audit_events,
    code_at,
    field_errors,
    in_app,
    link_in,
    location,
    login_password,
    new_member,
    new_tenant,
    step_now,
    text,
)

SENT = "we have e-mailed it a link to choose a new password"


def _links(app, email: str) -> list[str]:
    with in_app(app, commit=False):
        notes = db.session.scalars(sa.select(Notification).where(
            Notification.kind == "auth.password_reset", Notification.to_email == email)
            .order_by(Notification.created_at)).all()
        return [link_in(note.body, "setup") for note in notes]


def _ask(client, email: str):
    return client.post("/login/forgot", data={"email": email})


def test_a_forgotten_password_is_reset_through_the_e_mailed_link_and_every_session_ends(web_app, web, frozen):
    tenant = new_tenant(web_app)
    owner = tenant.owner.email
    elsewhere = web_app.test_client()
    assert login_password(elsewhere, owner).status_code == 302  # signed in on another device
    assert 'href="/login/forgot"' in text(web.get("/login"))

    asked = _ask(web, owner.upper())
    assert asked.status_code == 200 and SENT in text(asked)
    [link] = _links(web_app, owner)
    page = web.get(link)
    assert page.status_code == 200 and "Choose a new password" in text(page) and owner in text(page)

    weak = web.post(link, data={"password": "password1", "confirm": "password1"})
    assert weak.status_code == 422 and field_errors(text(weak), "password")
    done = web.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and location(done) == "/login"
    assert web.get(f"/t/{tenant.slug}/").status_code == 302  # no session started by the link
    assert elsewhere.get(f"/t/{tenant.slug}/").status_code == 302  # the other device's session ended
    assert login_password(web_app.test_client(), owner).status_code == 422  # the old password is gone
    assert login_password(web, owner, NEW_PASSWORD).status_code == 302
    assert web.get(link).status_code == 404  # once
    with in_app(web_app, commit=False):
        user_id = db.session.scalars(sa.select(User.id).where(User.email == owner)).one()
        reasons = db.session.scalars(sa.select(AuthSession.revoked_reason).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_not(None))).all()
        assert reasons == ["password reset"]
        told = db.session.scalars(sa.select(Notification.subject).where(
            Notification.kind == "auth.password_changed")).all()
        assert told == ["Your Tenantry password was changed"]
    [requested] = audit_events(web_app, "auth.password.reset_requested")
    assert requested["actor_id"] == str(user_id)
    assert audit_events(web_app, "auth.user.password_reset")[0]["details"] == {"sessions_ended": 1}


def test_two_factor_is_still_asked_after_a_reset(web_app, web):
    tenant = new_tenant(web_app)
    person = new_member(web_app, tenant, with_totp=True, email="jana@example.com")
    _ask(web, person.email)
    [link] = _links(web_app, person.email)
    assert web.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    password_only = login_password(web, person.email, NEW_PASSWORD)
    assert location(password_only) == "/login/2fa"
    signed_in = web.post("/login/2fa", data={"code": code_at(person.secret, step_now())})
    assert location(signed_in) == f"/t/{tenant.slug}/"


def test_the_same_answer_for_any_address_and_no_link_for_staff_or_a_deactivated_account(web_app, web):
    tenant = new_tenant(web_app)
    created = web_app.test_cli_runner().invoke(args=["tenantry", "create-staff", "dpo@example.com", "--role", "dpo"])
    assert created.exit_code == 0, created.output
    with in_app(web_app):
        gone = new_member(web_app, tenant, email="gone@example.com")
        db.session.get(User, gone.id).active = False
    for email in ("nobody@example.com", "dpo@example.com", "gone@example.com", tenant.owner.email):
        answer = _ask(web, email)
        assert answer.status_code == 200 and SENT in text(answer) and email in text(answer)
    with in_app(web_app, commit=False):
        sent_to = db.session.scalars(sa.select(Notification.to_email).where(
            Notification.kind == "auth.password_reset")).all()
    assert sent_to == [tenant.owner.email]
    bad = _ask(web, "not an address")
    assert bad.status_code == 422 and field_errors(text(bad), "email")


def test_a_link_works_for_an_hour_and_only_the_newest(web_app, web, frozen):
    tenant = new_tenant(web_app)
    _ask(web, tenant.owner.email)
    _ask(web, tenant.owner.email)
    first, newest = _links(web_app, tenant.owner.email)
    assert web.get(first).status_code == 404 and "ask for another" in text(web.get(first))
    frozen.shift(timedelta(minutes=59))
    assert web.get(newest).status_code == 200
    frozen.shift(timedelta(minutes=1, seconds=1))
    assert web.get(newest).status_code == 404
    assert web.post(newest, data={"password": OTHER_PASSWORD, "confirm": OTHER_PASSWORD}).status_code == 404


def test_asking_for_links_is_rate_limited(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN="3 per minute")
    tenant = new_tenant(app)
    client = app.test_client()
    answers = [_ask(client, tenant.owner.email).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert len(_links(app, tenant.owner.email)) == 3


def test_staff_get_a_reset_link_from_the_command_line_and_still_need_their_code(web_app, web):
    from tenantry.platform.identity.models import StaffUser

    runner = web_app.test_cli_runner()
    assert runner.invoke(args=["tenantry", "create-staff", "dpo@example.com", "--role", "dpo"]).exit_code == 0
    issued = runner.invoke(args=["tenantry", "staff-reset-link", "DPO@example.com"])
    assert issued.exit_code == 0, issued.output
    link = link_in(issued.output, "setup")
    done = web.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and location(done) == "/admin/login"
    assert web.get("/admin/").status_code == 302  # the link signs no one in
    with in_app(web_app, commit=False):
        assert db.session.scalars(sa.select(StaffUser.password_hash)).one()
    assert runner.invoke(args=["tenantry", "staff-reset-link", "nobody@example.com"]).exit_code != 0
