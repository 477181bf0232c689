"""Staff accounts from the command line: one-time set-up links, never a default password."""

import re

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import SetupToken, StaffUser, User
from tests.identity.support import (
    NEW_PASSWORD,
    STEP0,
    code_at,
    count,
    field_errors,
    flask_cli,
    in_app,
    link_in,
    location,
    text,
)


def create_staff(app, email, role="dpo"):
    return app.test_cli_runner().invoke(args=["tenantry", "create-staff", email, "--role", role])


def _setup(client, path, password=NEW_PASSWORD, name="Dana Protection"):
    return client.post(path, data={"name": name, "password": password, "confirm": password})


def _enrol(client):
    client.get("/account/2fa/enrol")
    with client.session_transaction() as sess:
        secret = sess["enrol_secret"]
    assert client.post("/account/2fa/enrol", data={"code": code_at(secret, STEP0)}).status_code == 200


@pytest.mark.obligation("TT-unique-ids", "DPA-B.2fa")
def test_create_staff_prints_a_one_time_link_that_leads_to_password_then_2fa(web_app, web, frozen):
    result = create_staff(web_app, "Dana.DPO@example.com", "dpo")

    assert result.exit_code == 0, result.output
    path = link_in(result.output, "setup")
    with in_app(web_app, commit=False):
        staff = db.session.execute(sa.select(StaffUser)).scalar_one()
        assert (staff.email, staff.role, staff.password_hash) == ("dana.dpo@example.com", "dpo", None)
        # Only the hash of the link's token is stored.
        stored = db.session.execute(sa.select(SetupToken.token_hash)).scalars().all()
    assert path.rsplit("/", 1)[1] not in stored

    page = web.get(path)
    assert page.status_code == 200
    # Staff passwords are longer than the tenants' default.
    short = _setup(web, path, password="Zq8-vWm4-kT7x")  # 13 characters
    assert short.status_code == 422 and field_errors(text(short), "password") == ["Use at least 14 characters."]

    done = _setup(web, path)

    assert done.status_code == 302 and location(done).startswith("/account/2fa/enrol")
    assert location(web.get("/admin/")).startswith("/account/2fa/enrol")
    _enrol(web)
    assert web.get("/admin/").status_code == 200

    # The link worked once.
    assert web_app.test_client().get(path).status_code == 404
    assert _setup(web_app.test_client(), path, password="another-long-passphrase-99").status_code == 404
    with in_app(web_app, commit=False):
        staff = db.session.execute(sa.select(StaffUser)).scalar_one()
        assert staff.password_hash and staff.name == "Dana Protection" and staff.has_totp


def test_a_setup_link_expires_after_72_hours(web_app, web, frozen):
    from datetime import timedelta

    path = link_in(create_staff(web_app, "late@example.com").output, "setup")
    frozen.shift(timedelta(hours=71))
    assert web.get(path).status_code == 200
    frozen.shift(timedelta(hours=1, seconds=1))
    assert web.get(path).status_code == 404


def test_create_staff_refuses_a_duplicate_e_mail(web_app):
    assert create_staff(web_app, "dpo@example.com").exit_code == 0

    again = create_staff(web_app, "DPO@example.com", "support")

    assert again.exit_code != 0
    assert "already exists" in again.output
    assert count(web_app, StaffUser) == 1


@pytest.mark.parametrize("args", [
    ["not-an-email", "--role", "dpo"],
    ["someone@example.com", "--role", "superuser"],
    ["someone@example.com"],
])
def test_create_staff_refuses_bad_input(web_app, args):
    result = web_app.test_cli_runner().invoke(args=["tenantry", "create-staff", *args])
    assert result.exit_code != 0
    assert count(web_app, StaffUser) == 0


@pytest.mark.obligation("TT-unique-ids")
def test_bootstrap_staff_creates_the_first_admin_once(web_app, web, frozen):
    runner = web_app.test_cli_runner()

    first = runner.invoke(args=["tenantry", "bootstrap-staff", "--email", "root@example.com"])
    assert first.exit_code == 0, first.output
    first_link = link_in(first.output, "setup")
    with in_app(web_app, commit=False):
        staff = db.session.execute(sa.select(StaffUser)).scalar_one()
        assert (staff.email, staff.role, staff.password_hash) == ("root@example.com", "platform-admin", None)

    # While it has no password, running again prints a fresh link (the earlier one stops working).
    second = runner.invoke(args=["tenantry", "bootstrap-staff", "--email", "other@example.com"])
    assert second.exit_code == 0
    second_link = link_in(second.output, "setup")
    assert second_link != first_link and "root@example.com" in second.output
    assert count(web_app, StaffUser) == 1
    assert web.get(first_link).status_code == 404

    assert _setup(web, second_link).status_code == 302

    third = runner.invoke(args=["tenantry", "bootstrap-staff"])
    assert third.exit_code == 0
    assert "/setup/" not in third.output and "set up" in third.output
    assert count(web_app, StaffUser) == 1


def test_bootstrap_staff_does_nothing_when_a_platform_admin_exists(web_app):
    create_staff(web_app, "boss@example.com", "platform-admin")
    with in_app(web_app):
        db.session.execute(sa.update(StaffUser).values(password_hash="x"))  # as if set up
    result = web_app.test_cli_runner().invoke(args=["tenantry", "bootstrap-staff"])
    assert result.exit_code == 0 and "/setup/" not in result.output
    assert count(web_app, StaffUser) == 1


@pytest.mark.obligation("TT-unique-ids")
def test_no_account_is_created_with_a_password(web_app, web):
    runner = web_app.test_cli_runner()
    assert runner.invoke(args=["tenantry", "bootstrap-staff"]).exit_code == 0
    assert create_staff(web_app, "support@example.com", "support").exit_code == 0
    created = flask_cli(web_app, "tenantry", "tenants", "create", "acme", "--name", "Acme",
                        "--owner-email", "owner@example.com")
    assert created.exit_code == 0, created.output

    with in_app(web_app, commit=False):
        hashes = db.session.execute(sa.select(StaffUser.password_hash)).scalars().all() + \
            db.session.execute(sa.select(User.password_hash)).scalars().all()
    assert hashes == [None, None, None]
    # Nothing signs in to them before their people set a password.
    for email, path in (("admin@example.com", "/admin/login"), ("support@example.com", "/admin/login"),
                        ("owner@example.com", "/login")):
        for guess in ("admin", "password", "changeme", "tenantry", "Password123!", email):
            assert web.post(path, data={"email": email, "password": guess}).status_code == 422


def test_the_cli_source_holds_no_default_password():
    import inspect

    from tenantry.platform.identity import cli as identity_cli
    from tenantry.tenants import cli as tenants_cli

    for module in (identity_cli, tenants_cli):
        source = inspect.getsource(module)
        assert not re.search(r"set_password\(|password_hash\s*=", source), module.__name__
