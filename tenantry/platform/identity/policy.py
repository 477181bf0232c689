"""Which tenant policies bind a person, and what they demand of them right now [DPA-B.password]."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import redirect, request, url_for

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership
from tenantry.platform.identity.passwords import ABSOLUTE_MIN_LENGTH
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants

STAFF_MIN_LENGTH = 14


@dataclass(frozen=True)
class Policy:
    min_length: int = 12
    max_age_days: int = 0
    require_2fa: bool = False


def tenants_of(user) -> list[tuple[Tenant, Membership]]:
    """Every live tenant the user belongs to (a deliberate cross-tenant read about one person)."""
    with all_tenants():
        rows = db.session.execute(
            sa.select(Tenant, Membership)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user.id, Tenant.status != TenantStatus.DELETED,
                   Membership.deactivated_at.is_(None))
            .order_by(Tenant.name)
        ).all()
    return [(t, m) for t, m in rows]


def membership_for(user, tenant: Tenant) -> Membership | None:
    return db.session.execute(
        sa.select(Membership).where(Membership.tenant_id == tenant.id, Membership.user_id == user.id,
                                    Membership.deactivated_at.is_(None))
    ).scalar_one_or_none()


def policy_for(principal) -> Policy:
    """The strictest policy of all the person's tenants; staff always have 2FA and long passwords."""
    if principal.is_staff:
        return Policy(min_length=STAFF_MIN_LENGTH, max_age_days=0, require_2fa=True)
    tenants = [t for t, _ in tenants_of(principal)]
    if not tenants:
        return Policy()
    ages = [t.password_max_age_days for t in tenants if t.password_max_age_days > 0]
    return Policy(
        min_length=max(ABSOLUTE_MIN_LENGTH, *(t.password_min_length for t in tenants)),
        max_age_days=min(ages) if ages else 0,
        require_2fa=any(t.require_2fa for t in tenants),
    )


def password_expired(principal, policy: Policy | None = None) -> bool:
    policy = policy or policy_for(principal)
    if not policy.max_age_days:
        return False
    changed = principal.password_changed_at or principal.created_at
    return clock.now() - changed > timedelta(days=policy.max_age_days)


def enforce_for_tenant(user, tenant: Tenant):
    """Redirect a member who does not meet this tenant's policy; None when they do."""
    if tenant.require_2fa and not user.has_totp:
        return redirect(url_for("auth.enrol_2fa", next=request.full_path.rstrip("?"), required=1))
    if tenant.password_max_age_days and password_expired(
        user, Policy(tenant.password_min_length, tenant.password_max_age_days, tenant.require_2fa)
    ):
        return redirect(url_for("auth.change_password", next=request.full_path.rstrip("?"), expired=1))
    return None
