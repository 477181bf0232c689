"""Factories that take a tenant: accounts, tenants with owners, signed-in clients."""

from __future__ import annotations

import itertools
import time

import pyotp

from tenantry.dpa import agreements
from tenantry.platform.db import db
from tenantry.platform.identity import login, totp
from tenantry.platform.identity.models import Membership, StaffUser, User
from tenantry.platform.tenancy import Tenant, tenant_context

PASSWORD = "velvet-orchard-quantum-41"
_seq = itertools.count(1)


def make_user(email: str | None = None, *, password: str = PASSWORD, name: str = "Test Person",
              with_totp: bool = False) -> User:
    user = User(email=email or f"user{next(_seq)}@example.com", name=name)
    login.set_password(user, password)
    db.session.add(user)
    db.session.flush()
    if with_totp:
        enable_totp(user)
    return user


def make_staff(role: str = "platform-admin", email: str | None = None, *, password: str = PASSWORD,
               with_totp: bool = True) -> StaffUser:
    staff = StaffUser(email=email or f"staff{next(_seq)}@example.com", name="Staff Person", role=role)
    login.set_password(staff, password)
    db.session.add(staff)
    db.session.flush()
    if with_totp:
        enable_totp(staff)
    return staff


def enable_totp(principal) -> str:
    """Enrol a TOTP secret as if confirmed one step ago; returns the secret."""
    secret = totp.new_secret()
    totp.enable(principal, secret, totp.current_step() - 2)
    principal._test_secret = secret
    return secret


def make_tenant(slug: str | None = None, *, owner: User | None = None, name: str | None = None,
                country: str = "CZ", jurisdiction: str = "gdpr", accept: bool = True, **policy) -> Tenant:
    slug = slug or f"tenant-{next(_seq)}"
    tenant = Tenant(slug=slug, name=name or slug.title(), country=country, jurisdiction=jurisdiction, **policy)
    db.session.add(tenant)
    db.session.flush()
    owner = owner or make_user(f"owner-{slug}@example.com")
    with tenant_context(tenant):
        db.session.add(Membership(tenant_id=tenant.id, user_id=owner.id, role="owner"))
        if accept:
            agreements.accept(tenant, owner, agreements.in_force())
        db.session.flush()
    tenant._test_owner = owner
    return tenant


def add_member(tenant: Tenant, user: User | None = None, role: str = "member") -> Membership:
    user = user or make_user()
    with tenant_context(tenant):
        membership = Membership(tenant_id=tenant.id, user_id=user.id, role=role)
        db.session.add(membership)
        db.session.flush()
    membership._test_user = user
    return membership


def next_code(secret: str) -> str:
    """A code for the next time step: accepted (window +1) and never a replay of the last one."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def sign_in(client, principal, *, password: str = PASSWORD, staff: bool = False):
    """Sign in through the real forms (CSRF disabled in tests that use this helper's app)."""
    path = "/admin/login" if staff or principal.is_staff else "/login"
    response = client.post(path, data={"email": principal.email, "password": password})
    if response.status_code == 302 and response.headers["Location"].endswith("/login/2fa"):
        secret = getattr(principal, "_test_secret", None)
        assert secret, "principal has TOTP but the test did not keep its secret"
        response = client.post("/login/2fa", data={"code": next_code(secret)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response
