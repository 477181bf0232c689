"""`flask tenantry tenants create`: the operator creates a tenant; its owner sets up and accepts [DPA-2.8]."""

import pytest
import sqlalchemy as sa

from tenantry.dpa.models import AgreementAcceptance
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant, all_tenants
from tests.identity.support import (
    NEW_PASSWORD,
    T0,
    count,
    field_errors,
    flask_cli,
    in_app,
    link_in,
    location,
    login_password,
    new_member,
    new_tenant,
    text,
)

IP = "192.0.2.44"


def create(app, *args):
    return flask_cli(app, "tenantry", "tenants", "create", *args)


def test_create_prints_the_owners_set_up_link(web_app):
    result = create(web_app, "acme", "--name", "Acme Ltd", "--owner-email", "Boss@Example.com",
                    "--country", "cz", "--jurisdiction", "gdpr")

    assert result.exit_code == 0, result.output
    assert link_in(result.output, "setup")
    with in_app(web_app, commit=False), all_tenants():
        tenant = db.session.execute(sa.select(Tenant)).scalar_one()
        owner = db.session.execute(sa.select(User)).scalar_one()
        assert (tenant.slug, tenant.name, tenant.country, tenant.jurisdiction) == ("acme", "Acme Ltd", "CZ", "gdpr")
        assert (owner.email, owner.password_hash) == ("boss@example.com", None)
        membership = db.session.execute(sa.select(Membership)).scalar_one()
        assert (membership.tenant_id, membership.user_id, membership.role) == (tenant.id, owner.id, "owner")
    # Not concluded yet: the owner accepts on the first visit.
    assert count(web_app, AgreementAcceptance) == 0


@pytest.mark.obligation("DPA-2.8")
def test_the_owner_sets_up_then_must_accept_the_agreement_before_anything_opens(web_app, web, frozen):
    result = create(web_app, "acme", "--name", "Acme Ltd", "--owner-email", "boss@example.com",
                    "--jurisdiction", "ccpa", "--country", "US")
    path = link_in(result.output, "setup")

    done = web.post(path, data={"name": "Boss", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                    environ_base={"REMOTE_ADDR": IP})
    assert done.status_code == 302 and location(done) == "/t/acme/"

    for page in ("/t/acme/", "/t/acme/members", "/t/acme/settings/security"):
        response = web.get(page, environ_base={"REMOTE_ADDR": IP})
        assert response.status_code == 302 and location(response) == "/t/acme/agreement", page
    agreement = web.get("/t/acme/agreement")
    assert agreement.status_code == 200
    assert "service provider" in text(agreement)  # CCPA words for a CCPA tenant

    refused = web.post("/t/acme/agreement", data={}, environ_base={"REMOTE_ADDR": IP})
    assert refused.status_code == 422 and field_errors(text(refused), "accept")
    assert count(web_app, AgreementAcceptance) == 0

    accepted = web.post("/t/acme/agreement", data={"accept": "y"}, environ_base={"REMOTE_ADDR": IP})

    assert accepted.status_code == 302 and location(accepted) == "/t/acme/"
    assert web.get("/t/acme/").status_code == 200
    with in_app(web_app, commit=False), all_tenants():
        acceptance = db.session.execute(sa.select(AgreementAcceptance)).scalar_one()
        owner = db.session.execute(sa.select(User)).scalar_one()
        assert acceptance.version.version == 1
        assert (acceptance.user_id, acceptance.accepted_by_email) == (owner.id, "boss@example.com")
        assert acceptance.accepted_at == T0 and acceptance.ip == IP


def test_only_an_owner_can_conclude_the_agreement(web_app, web):
    tenant = new_tenant(web_app, accept=False)
    admin = new_member(web_app, tenant, "admin")
    login_password(web, admin.email)
    assert location(web.get(f"/t/{tenant.slug}/")) == f"/t/{tenant.slug}/agreement"
    page = web.get(f"/t/{tenant.slug}/agreement")
    assert "Ask an owner" in text(page)
    web.post(f"/t/{tenant.slug}/agreement", data={"accept": "y"})
    assert count(web_app, AgreementAcceptance) == 0


def test_an_existing_user_becomes_owner_without_a_new_link(web_app):
    tenant = new_tenant(web_app)
    result = create(web_app, "second", "--name", "Second", "--owner-email", tenant.owner.email)
    assert result.exit_code == 0, result.output
    assert "/setup/" not in result.output and "already has an account" in result.output
    assert count(web_app, User) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["Bad Slug!", "--name", "X", "--owner-email", "o@example.com"], "SLUG"),
    (["admin", "--name", "X", "--owner-email", "o@example.com"], "reserved"),
    (["good-slug", "--name", "X", "--owner-email", "o@example.com", "--country", "XX"], "unknown country"),
    (["good-slug", "--name", "X", "--owner-email", "not-an-address"], "email address"),
    (["good-slug", "--name", "X", "--owner-email", "o@example.com", "--jurisdiction", "hipaa"], "jurisdiction"),
])
def test_bad_input_exits_non_zero_with_a_message(web_app, args, message):
    result = create(web_app, *args)
    assert result.exit_code != 0
    assert message.lower() in result.output.lower()
    assert count(web_app, Tenant) == 0 and count(web_app, User) == 0


def test_a_taken_slug_exits_non_zero_and_writes_nothing(web_app):
    new_tenant(web_app, "acme")
    result = create(web_app, "acme", "--name", "Again", "--owner-email", "new-owner@example.com")
    assert result.exit_code != 0 and "taken" in result.output
    assert count(web_app, Tenant) == 1 and count(web_app, User) == 1


def test_create_runs_under_the_apps_own_test_cli_runner(web_app):
    result = web_app.test_cli_runner().invoke(
        args=["tenantry", "tenants", "create", "acme", "--name", "Acme", "--owner-email", "boss@example.com"])
    assert result.exit_code == 0, result.output
