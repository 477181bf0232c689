"""The test fixtures themselves: every test starts from the migrated, seeded schema only,
and the live server and browser fixtures reach the real app."""

import sqlalchemy as sa

from tenantry.dpa.models import AgreementVersion
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant


def _add_tenant(slug: str) -> None:
    db.session.add(Tenant(slug=slug, name=slug.title(), country="CZ"))
    db.session.commit()


def test_database_starts_with_the_seeded_agreement_only(app_ctx, db_kind):
    versions = db.session.execute(sa.select(AgreementVersion.version)).scalars().all()
    assert versions == [1]
    assert db.session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar() == 0
    assert db.engine.dialect.name == db_kind
    _add_tenant("left-behind")  # the next test must not see this


def test_rows_of_an_earlier_test_are_gone(app_ctx):
    assert db.session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar() == 0
    _add_tenant("left-behind")


def test_app_connects_as_the_application_role_on_postgresql(app_ctx, db_kind):
    user = db.session.execute(sa.text("SELECT current_user" if db_kind == "postgresql" else "SELECT 'sqlite'")).scalar()
    assert user == ("tenantry_app" if db_kind == "postgresql" else "sqlite")


def test_live_server_serves_the_app_to_chromium(live_server, browser_page):
    response = browser_page.goto(live_server.url("/no-such-page"))
    assert response is not None and response.status == 404
    assert response.headers["x-frame-options"] == "DENY"
    assert live_server.app.extensions["tenantry.settings"].base_url == live_server


def test_each_app_starts_with_empty_rate_limit_counters(make_app):
    """Flask-Limiter's memory storage is made afresh by every create_app, so one test's
    sign-in attempts never count against the next test's."""

    def attempts(app) -> list[int]:
        client = app.test_client()
        return [client.post("/login", data={"email": "nobody@example.com", "password": "wrong"}).status_code
                for _ in range(3)]

    first = attempts(make_app(TENANTRY_RATELIMIT_LOGIN="2 per minute", WTF_CSRF_ENABLED=False))
    assert first[:2] != [429, 429] and first[2] == 429
    second = attempts(make_app(TENANTRY_RATELIMIT_LOGIN="2 per minute", WTF_CSRF_ENABLED=False))
    assert second == first
