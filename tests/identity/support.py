"""Helpers and fixtures shared by tests/identity and tests/tenants.

The web tests drive the app through its test client only, with no application context held
open around the requests (a request would otherwise reuse it: same db.session, and the inline
jobs that run when a request's context ends would not run). Setting up and checking rows is
done in short `with in_app(app):` blocks; what the tests keep of an account between them is a
plain `Who` (id, e-mail, TOTP secret), never a detached ORM object.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity import passwords, totp
from tenantry.platform.tenancy import all_tenants
from tests import factories
from tests.factories import PASSWORD

# A fixed instant for tests under a frozen clock: after the seeded agreement (1 January 2026)
# took effect, and at the start of a TOTP step.
T0 = datetime(2026, 6, 1, 9, 0, 0, tzinfo=UTC)
assert int(T0.timestamp()) % totp.STEP_SECONDS == 0
STEP0 = int(T0.timestamp()) // totp.STEP_SECONDS

# The hasher the application module made, before fast_password_hashing swaps it per test.
PRODUCTION_HASHER = passwords._hasher

# Other strong passwords (zxcvbn score >= 3) for password changes.
NEW_PASSWORD = "copper-lantern-meadow-58"
OTHER_PASSWORD = "saffron-glacier-violin-73"

# Most tests are not about rate limits: a limit they never reach (RATELIMIT_ENABLED=False
# would stick to the process-wide Limiter and leak into later tests).
NO_LIMIT = "10000 per minute"


@dataclass
class Who:
    """What a test keeps of an account between application contexts."""

    id: uuid.UUID
    email: str
    is_staff: bool = False
    _test_secret: str | None = None

    @property
    def secret(self) -> str:
        assert self._test_secret, "this account has no TOTP secret"
        return self._test_secret


def who(principal) -> Who:
    return Who(principal.id, principal.email, principal.is_staff, getattr(principal, "_test_secret", None))


@dataclass
class TenantRef:
    id: uuid.UUID
    slug: str
    owner: Who


@contextlib.contextmanager
def in_app(app, *, commit: bool = True) -> Iterator[None]:
    """A short application context for setting up or reading rows; commits at the end."""
    with app.app_context():
        try:
            yield
            if commit:
                db.session.commit()
        finally:
            db.session.remove()


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, interval=totp.STEP_SECONDS).generate_otp(step)


def step_now() -> int:
    return totp.current_step()


def new_tenant(app, slug: str | None = None, **kwargs) -> TenantRef:
    with in_app(app):
        tenant = factories.make_tenant(slug, **kwargs)
        ref = TenantRef(tenant.id, tenant.slug, who(tenant._test_owner))
    return ref


def new_member(app, tenant: TenantRef, role: str = "member", *, with_totp: bool = False, email: str | None = None) -> Who:
    with in_app(app):
        from tenantry.platform.tenancy import Tenant

        t = db.session.get(Tenant, tenant.id)
        user = factories.make_user(email, with_totp=with_totp)
        factories.add_member(t, user, role)
        ref = who(user)
    return ref


def membership_id(app, tenant: TenantRef, person: Who) -> uuid.UUID:
    from tenantry.platform.identity.models import Membership

    with in_app(app, commit=False), all_tenants():
        return db.session.execute(
            sa.select(Membership.id).where(Membership.tenant_id == tenant.id, Membership.user_id == person.id)
        ).scalar_one()


def role_of(app, tenant: TenantRef, person: Who) -> str | None:
    from tenantry.platform.identity.models import Membership

    with in_app(app, commit=False), all_tenants():
        return db.session.execute(
            sa.select(Membership.role).where(Membership.tenant_id == tenant.id, Membership.user_id == person.id)
        ).scalar_one_or_none()


def count(app, model, *where) -> int:
    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def audit_events(app, action: str) -> list:
    from tenantry.platform.audit import AuditEvent

    with in_app(app, commit=False):
        rows = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).scalars().all()
        return [
            {"actor_type": r.actor_type, "actor_id": r.actor_id, "outcome": r.outcome, "tenant_id": r.tenant_id,
             "details": r.details, "ip": r.ip, "target_id": r.target_id}
            for r in rows
        ]


def login_password(client, email: str, password: str = PASSWORD, **kw):
    return client.post("/login", data={"email": email, "password": password}, **kw)


def login_with_code(client, person: Who, code: str, password: str = PASSWORD, *, staff: bool = False):
    """Password step, then the given second-factor code; returns the response to the code."""
    path = "/admin/login" if staff or person.is_staff else "/login"
    first = client.post(path, data={"email": person.email, "password": password})
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/2fa"), first.status_code
    return client.post("/login/2fa", data={"code": code})


def flask_cli(app, *args):
    """Run `flask <args>` against `app` as the real `flask` command does (FlaskGroup pushes the
    application context for every subcommand)."""
    from flask.cli import FlaskGroup

    return app.test_cli_runner().invoke(FlaskGroup(create_app=lambda: app), args=list(args))


def sign_in(client, person: Who, **kw):
    return factories.sign_in(client, person, **kw)


def browser_sign_in(page, base_url: str, email: str, *, then: str) -> None:
    """Signs `email` in through the login page of a real browser (Playwright) and waits until
    it lands on a URL matching `then` (a glob)."""
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(then)


def logout(client):
    response = client.post("/logout")
    assert response.status_code == 302
    return response


def location(response) -> str:
    return response.headers.get("Location", "")


def text(response) -> str:
    return response.get_data(as_text=True)


def field_errors(html: str, field_id: str) -> list[str]:
    """The error messages rendered next to a field by the _form.html macro."""
    found = re.findall(rf'<p class="error" id="{re.escape(field_id)}-err(?:-\d+)?">(.*?)</p>', html, re.S)
    return [re.sub(r"<[^>]+>", "", f).replace("Error: ", "").strip() for f in found]


def link_in(body: str, kind: str) -> str:
    """The path of the first http(s) link to /<kind>/<token> in a text."""
    match = re.search(rf"https?://[^/\s]+(/{kind}/[A-Za-z0-9_\-]+)", body)
    assert match, f"no /{kind}/ link in: {body!r}"
    return match.group(1)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """argon2id with the cheapest parameters: the suite signs in hundreds of times, and the
    production parameters cost about 0.2 s a hash. What is hashed and checked is unchanged
    (test_login checks the production parameters themselves)."""
    from argon2 import PasswordHasher, Type

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1,
                                                             type=Type.ID))


@pytest.fixture
def web_app(make_app):
    """The app with CSRF off (forms are posted without tokens) and no reachable rate limit."""
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT)


@pytest.fixture
def web(web_app):
    return web_app.test_client()


@pytest.fixture
def frozen(time_machine):
    """The clock stopped at T0; move it with frozen.shift(seconds or timedelta)."""
    time_machine.move_to(T0, tick=False)
    return time_machine
