"""Creating a tenant: from the sign-up form (the person accepts the agreement there) or by an
operator from the command line (the owner accepts when setting up)."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.dpa import agreements
from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.identity import login, passwords
from tenantry.platform.identity.models import Membership, Role, User
from tenantry.platform.tenancy import Jurisdiction, Tenant, tenant_context
from tenantry.tenants.crm import index_builds
from tenantry.tenants.forms import SIGNUP_MIN_PASSWORD

SLUG_TAKEN = "This web address is taken. Choose another."


class SignupError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def slug_taken(slug: str) -> bool:
    return db.session.execute(sa.select(Tenant.id).where(Tenant.slug == slug)).first() is not None


def create_tenant(*, slug: str, name: str, country: str, jurisdiction: str, owner: User) -> Tenant:
    if slug_taken(slug):
        raise SignupError("slug", SLUG_TAKEN)
    tenant = Tenant(slug=slug, name=name.strip(), country=country.upper(), jurisdiction=Jurisdiction(jurisdiction).value)
    db.session.add(tenant)
    db.session.flush()
    with tenant_context(tenant):
        db.session.add(Membership(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER.value))
        index_builds.start_current(tenant.id)
        audit.record("tenant.created", actor=owner, tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                     details={"country": tenant.country, "jurisdiction": tenant.jurisdiction})
        db.session.flush()
    return tenant


def sign_up(*, name: str, slug: str, country: str, jurisdiction: str, accepted: bool,
            owner: User | None = None, person_name: str = "", email: str = "", password: str = "") -> tuple[Tenant, User]:
    """A new tenant and its owner, with the agreement in force accepted; all or nothing."""
    if not accepted:
        raise SignupError("accept", "You must accept the agreement to create a workspace.")
    if owner is None:
        email = login.normalise_email(email)
        # The password first: whether an e-mail has an account is then told only to someone who
        # sent a whole valid signup, not to a probe with any password.
        issues = passwords.problems(password, min_length=SIGNUP_MIN_PASSWORD, user_inputs=[email, person_name, name, slug])
        if issues:
            raise SignupError("password", " ".join(issues))
        if login.find("user", email) is not None:
            raise SignupError("email", "An account with this e-mail exists. Sign in first, then create the workspace.")
        owner = User(email=email, name=person_name.strip())
        login.set_password(owner, password)
        db.session.add(owner)
        db.session.flush()
    tenant = create_tenant(slug=slug, name=name, country=country, jurisdiction=jurisdiction, owner=owner)
    with tenant_context(tenant):
        agreements.accept(tenant, owner, agreements.in_force())
    return tenant, owner
