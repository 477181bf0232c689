"""Sign-up concludes the agreement: version, person, time and address are recorded [DPA-2.8]."""

import re

import pytest
import sqlalchemy as sa

from tenantry.dpa.models import AgreementAcceptance, AgreementVersion
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession, Membership, User
from tenantry.platform.tenancy import Tenant, all_tenants
from tests.identity.support import (
    NEW_PASSWORD,
    T0,
    count,
    field_errors,
    in_app,
    location,
    login_password,
    new_tenant,
    text,
)

IP = "198.51.100.23"


def _form(**overrides):
    data = {
        "name": "Acme Trading",
        "slug": "acme",
        "country": "CZ",
        "jurisdiction": "gdpr",
        "accept": "y",
        "person_name": "Alice Owner",
        "email": "alice@example.com",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _rows(app) -> dict[str, int]:
    return {model.__name__: count(app, model)
            for model in (Tenant, User, Membership, AgreementAcceptance, AuthSession, AuditEvent)}


NOTHING = {"Tenant": 0, "User": 0, "Membership": 0, "AgreementAcceptance": 0, "AuthSession": 0, "AuditEvent": 0}


@pytest.mark.obligation("DPA-2.8")
def test_the_sign_up_page_shows_the_agreement_in_force_and_an_unticked_box(web_app, web):
    with in_app(web_app, commit=False):
        title = db.session.execute(sa.select(AgreementVersion.title).where(AgreementVersion.version == 1)).scalar_one()

    page = web.get("/signup")

    assert page.status_code == 200
    html = text(page)
    assert title in html and "version 1" in html
    [box] = re.findall(r"<input[^>]*name=\"accept\"[^>]*>", html)
    assert 'type="checkbox"' in box and "checked" not in box


@pytest.mark.obligation("DPA-2.8")
def test_without_acceptance_nothing_is_created(web_app, web):
    response = web.post("/signup", data=_form(accept=None))

    assert response.status_code == 422
    assert field_errors(text(response), "accept") == ["You must accept the agreement to create a workspace."]
    assert _rows(web_app) == NOTHING


@pytest.mark.obligation("DPA-2.8")
def test_sign_up_records_tenant_owner_and_the_acceptance(web_app, web, frozen):
    response = web.post("/signup", data=_form(), environ_base={"REMOTE_ADDR": IP},
                        headers={"User-Agent": "SignupBrowser/1.0"})

    assert response.status_code == 302 and location(response) == "/t/acme/"
    with in_app(web_app, commit=False), all_tenants():
        tenant = db.session.execute(sa.select(Tenant)).scalar_one()
        user = db.session.execute(sa.select(User)).scalar_one()
        membership = db.session.execute(sa.select(Membership)).scalar_one()
        acceptance = db.session.execute(sa.select(AgreementAcceptance)).scalar_one()
        assert (tenant.slug, tenant.name, tenant.country, tenant.jurisdiction) == ("acme", "Acme Trading", "CZ", "gdpr")
        assert (user.email, user.name) == ("alice@example.com", "Alice Owner")
        assert user.password_hash and NEW_PASSWORD not in user.password_hash
        assert (membership.tenant_id, membership.user_id, membership.role) == (tenant.id, user.id, "owner")
        assert acceptance.tenant_id == tenant.id
        assert acceptance.version.version == 1
        assert acceptance.user_id == user.id and acceptance.accepted_by_email == "alice@example.com"
        assert acceptance.accepted_at == T0
        assert acceptance.ip == IP and acceptance.user_agent == "SignupBrowser/1.0"
        [event] = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "agreement.accepted")
        ).scalars().all()
        assert (event.tenant_id, event.actor_id, event.target_id, event.ip) == (tenant.id, str(user.id), "1", IP)
    # The new owner is signed in, and the workspace is open.
    dashboard = web.get("/t/acme/")
    assert dashboard.status_code == 200
    agreement = text(web.get("/t/acme/agreement"))
    assert "alice@example.com" in agreement and IP in agreement and T0.strftime("%Y-%m-%d %H:%M") in agreement


def test_a_taken_slug_is_refused_next_to_the_field_and_nothing_is_written(web_app, web):
    new_tenant(web_app, "acme")
    before = _rows(web_app)

    response = web.post("/signup", data=_form(slug="ACME"))

    assert response.status_code == 422
    assert field_errors(text(response), "slug") == ["This web address is taken. Choose another."]
    assert _rows(web_app) == before
    assert login_password(web, "alice@example.com", NEW_PASSWORD).status_code == 422  # no account was left behind


def test_one_round_shows_every_error_but_whether_the_e_mail_has_an_account(web_app, web):
    tenant = new_tenant(web_app, "acme")
    response = web.post("/signup", data=_form(slug="acme", password="short", confirm="short", accept="",
                                              email=tenant.owner.email))
    html = text(response)
    assert response.status_code == 422
    assert field_errors(html, "slug") == ["This web address is taken. Choose another."]
    assert field_errors(html, "password") and field_errors(html, "accept")
    assert not field_errors(html, "email")  # told only to a whole valid signup


@pytest.mark.parametrize("slug", ["admin", "api", "login", "t"])
def test_reserved_slugs_are_refused(web_app, web, slug):
    response = web.post("/signup", data=_form(slug=slug))
    assert response.status_code == 422
    assert field_errors(text(response), "slug")
    assert _rows(web_app) == NOTHING


@pytest.mark.parametrize("slug", ["a", "-acme", "acme-", "Acme Trading", "acme_trading", "x" * 64])
def test_malformed_slugs_are_refused(web_app, web, slug):
    response = web.post("/signup", data=_form(slug=slug))
    assert response.status_code == 422 and field_errors(text(response), "slug")
    assert _rows(web_app) == NOTHING


def test_an_existing_e_mail_is_refused(web_app, web):
    tenant = new_tenant(web_app)
    before = _rows(web_app)

    response = web.post("/signup", data=_form(email=tenant.owner.email.upper()))

    assert response.status_code == 422
    [error] = field_errors(text(response), "email")
    assert "exists" in error
    assert _rows(web_app) == before


def test_a_weak_password_is_refused(web_app, web):
    response = web.post("/signup", data=_form(password="password1234", confirm="password1234"))
    assert response.status_code == 422 and field_errors(text(response), "password")
    assert _rows(web_app) == NOTHING


def test_an_unknown_country_is_refused(web_app, web):
    response = web.post("/signup", data=_form(country="XX"))
    assert response.status_code == 422 and field_errors(text(response), "country")
    assert _rows(web_app) == NOTHING


@pytest.mark.parametrize("jurisdiction", ["gdpr", "ccpa", "pdpa"])
def test_the_chosen_jurisdiction_is_stored(web_app, web, jurisdiction):
    assert web.post("/signup", data=_form(jurisdiction=jurisdiction, country="US")).status_code == 302
    with in_app(web_app, commit=False):
        tenant = db.session.execute(sa.select(Tenant)).scalar_one()
        assert (tenant.jurisdiction, tenant.country) == (jurisdiction, "US")


@pytest.mark.obligation("DPA-1.terms")
def test_a_ccpa_tenant_reads_the_agreement_in_ccpa_words(web_app, web):
    web.post("/signup", data=_form(jurisdiction="ccpa", country="US"))

    html = text(web.get("/t/acme/agreement"))

    assert "service provider" in html and "business" in html and "consumer" in html
    assert not re.search(r"\b(processor|controller|data subject)s?\b", html, re.I)


@pytest.mark.obligation("DPA-1.terms")
def test_the_sign_up_form_shows_the_agreement_in_the_chosen_law_s_words(web_app, web):
    html = text(web.post("/signup", data=_form(jurisdiction="pdpa", accept=None)))
    assert "data intermediary" in html
    assert not re.search(r"\b(processor|controller)s?\b", html.split('class="agreement"', 1)[1].split("</div>", 1)[0])


@pytest.mark.obligation("DPA-2.8")
def test_a_signed_in_person_creates_another_workspace_and_accepts_for_it(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)

    response = web.post("/signup", data={"name": "Second", "slug": "second-one", "country": "DE",
                                         "jurisdiction": "gdpr", "accept": "y"})

    assert response.status_code == 302 and location(response) == "/t/second-one/"
    with in_app(web_app, commit=False), all_tenants():
        second = db.session.execute(sa.select(Tenant).where(Tenant.slug == "second-one")).scalar_one()
        acceptance = db.session.execute(
            sa.select(AgreementAcceptance).where(AgreementAcceptance.tenant_id == second.id)
        ).scalar_one()
        assert acceptance.user_id == tenant.owner.id
        assert count(web_app, User) == 1


@pytest.mark.parametrize("field", ["name", "person_name"])
def test_a_nul_character_is_refused_next_to_the_field(web_app, web, field):
    response = web.post("/signup", data=_form(**{field: "Acme\x00Ltd"}))
    assert response.status_code == 422 and field_errors(text(response), field)
    assert _rows(web_app) == NOTHING


def test_an_agreement_version_that_does_not_exist_is_404(web):
    assert web.get("/agreement/v1").status_code == 200
    assert web.get("/agreement/v2").status_code == 404
    assert web.get("/agreement?jurisdiction=hipaa").status_code == 404


def test_an_absurd_agreement_version_is_404_not_500(web):
    assert web.get("/agreement/v99999999999999999999").status_code == 404
