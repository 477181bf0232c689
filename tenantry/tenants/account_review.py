"""Account review [TT-account-review]: does everyone who can open this workspace still need to?

A review lists members inactive for 30 and 90 days, members without two-factor sign-in, how
many owners and admins there are, and API clients unused for 90 days. Owners and admins see it
on demand; the sweep stores one report per tenant and calendar month and tells the owners. A
member is deactivated (not removed: their history stays attributable) with one click, or
automatically after N idle days when the tenant turns that on.

Last activity is the later of the account's last sign-in and the last use of any of its
sessions (sessions are touched at most once a minute); an account that never signed in counts
from the day it joined.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db, new_id
from tenantry.platform.identity.models import ROLE_RANK, AuthSession, Membership, Role, User
from tenantry.platform.tenancy import (
    Tenant,
    TenantScoped,
    TenantStatus,
    all_tenants,
    current_tenant,
    tenant_context,
)

SHORT_IDLE_DAYS = 30
LONG_IDLE_DAYS = 90
CLIENT_IDLE_DAYS = 90
AUTO_MIN_DAYS, AUTO_MAX_DAYS = 30, 3650


class AccountReview(TenantScoped, db.Model):
    """A stored monthly report. Findings hold ids and day counts only; names are looked up
    when the report is shown, so a report never copies personal data."""

    __tablename__ = "account_reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    period: Mapped[str] = mapped_column(sa.String(7))  # "2026-06": one report per tenant and month
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    findings: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "period"),
    )


class AccountReviewSettings(TenantScoped, db.Model):
    __tablename__ = "account_review_settings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # None: automatic deactivation is off (the default).
    auto_deactivate_days: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id"),
        sa.CheckConstraint(
            f"auto_deactivate_days IS NULL OR auto_deactivate_days BETWEEN {AUTO_MIN_DAYS} AND {AUTO_MAX_DAYS}",
            name="auto_deactivate_days"),
    )


class ReviewError(ValueError):
    """A deactivation the rules refuse; the message is shown to the person who asked."""


@dataclass
class MemberRow:
    membership: Membership
    last_active: datetime | None
    idle_days: int

    @property
    def user(self) -> User:
        return self.membership.user


@dataclass
class ClientRow:
    client: Any
    last_used_at: datetime | None
    idle_days: int


@dataclass
class Review:
    as_of: datetime
    members: list[MemberRow]
    clients: list[ClientRow] | None  # None: this build has no API clients yet
    deactivated: list[MemberRow] = field(default_factory=list)

    @property
    def inactive_long(self) -> list[MemberRow]:
        return [m for m in self.members if m.idle_days >= LONG_IDLE_DAYS]

    @property
    def inactive_short(self) -> list[MemberRow]:
        return [m for m in self.members if SHORT_IDLE_DAYS <= m.idle_days < LONG_IDLE_DAYS]

    @property
    def without_2fa(self) -> list[MemberRow]:
        return [m for m in self.members if not m.user.has_totp]

    @property
    def owners(self) -> int:
        return sum(1 for m in self.members if m.membership.role == Role.OWNER)

    @property
    def admins(self) -> int:
        return sum(1 for m in self.members if m.membership.role == Role.ADMIN)

    @property
    def unused_clients(self) -> list[ClientRow]:
        return [c for c in self.clients or [] if c.idle_days >= CLIENT_IDLE_DAYS]

    def findings(self) -> dict[str, Any]:
        def ids(rows: list[MemberRow]) -> list[dict[str, Any]]:
            return [{"membership_id": str(r.membership.id), "idle_days": r.idle_days} for r in rows]

        return {
            "as_of": self.as_of.isoformat(),
            "inactive_90": ids(self.inactive_long),
            "inactive_30": ids(self.inactive_short),
            "without_2fa": ids(self.without_2fa),
            "owners": self.owners,
            "admins": self.admins,
            "members": len(self.members),
            "unused_api_clients": (None if self.clients is None else
                                   [{"api_client_id": str(c.client.id), "idle_days": c.idle_days}
                                    for c in self.unused_clients]),
        }


# --- last activity -------------------------------------------------------------------------


def last_activity(model: type, ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime | None]:
    """The later of last sign-in and last session use, per account of `model` (User or StaffUser)."""
    if not ids:
        return {}
    column = AuthSession.staff_id if getattr(model, "__tablename__", "") == "staff_users" else AuthSession.user_id
    seen = dict(db.session.execute(
        sa.select(column, sa.func.max(AuthSession.last_seen_at)).where(column.in_(ids)).group_by(column)).all())
    logins = dict(db.session.execute(sa.select(model.id, model.last_login_at).where(model.id.in_(ids))).all())
    return {i: max((t for t in (seen.get(i), logins.get(i)) if t is not None), default=None) for i in ids}


def idle_days(last: datetime | None, since: datetime, as_of: datetime) -> int:
    return max((as_of - (last or since)).days, 0)


# --- the review ----------------------------------------------------------------------------


def api_client_model():
    """The API lane's ApiClient, once it exists; the review skips clients until then."""
    try:
        from tenantry.tenants.api.models import ApiClient
    except ImportError:
        return None
    return ApiClient


def _clients(as_of: datetime) -> list[ClientRow] | None:
    model = api_client_model()
    if model is None:
        return None
    query = sa.select(model)
    if hasattr(model, "revoked_at"):
        query = query.where(model.revoked_at.is_(None))
    rows = []
    for client in db.session.execute(query).scalars():
        last = getattr(client, "last_used_at", None)
        rows.append(ClientRow(client, last, idle_days(last, client.created_at, as_of)))
    return sorted(rows, key=lambda r: -r.idle_days)


def review(as_of: datetime | None = None) -> Review:
    """The current tenant's review as of `as_of` (now by default)."""
    as_of = as_of or clock.now()
    memberships = list(db.session.execute(sa.select(Membership).join(Membership.user).order_by(User.email)).scalars())
    seen = last_activity(User, [m.user_id for m in memberships])
    active, deactivated = [], []
    for m in memberships:
        row = MemberRow(m, seen.get(m.user_id), idle_days(seen.get(m.user_id), m.created_at, as_of))
        (deactivated if m.deactivated_at else active).append(row)
    active.sort(key=lambda r: (-r.idle_days, r.user.email))
    return Review(as_of=as_of, members=active, clients=_clients(as_of), deactivated=deactivated)


def active_owner_ids(lock: bool = False) -> list[uuid.UUID]:
    query = sa.select(Membership.id).where(Membership.role == Role.OWNER, Membership.deactivated_at.is_(None))
    if lock:
        # Two admins deactivating the last two owners at once must not leave none.
        query = query.with_for_update()
    return list(db.session.execute(query).scalars())


def get_membership(membership_id: uuid.UUID) -> Membership | None:
    return db.session.execute(sa.select(Membership).where(Membership.id == membership_id)).scalar_one_or_none()


def deactivate_member(actor: Membership | None, target: Membership, *, reason: str,
                      idle: int | None = None, at: datetime | None = None) -> bool:
    """Deactivate one membership; False when it already was. `actor` None is the sweep."""
    if target.deactivated_at is not None:
        return False
    if actor is not None:
        if not actor.can(Role.ADMIN):
            raise ReviewError("Only owners and admins deactivate members.")
        if target.id == actor.id:
            raise ReviewError("You cannot deactivate yourself. Leave the workspace from the Members page instead.")
        if ROLE_RANK[Role(target.role)] > ROLE_RANK[Role(actor.role)]:
            raise ReviewError("Only an owner can deactivate an owner.")
    if target.role == Role.OWNER and active_owner_ids(lock=True) == [target.id]:
        raise ReviewError("The workspace's last active owner cannot be deactivated.")
    target.deactivated_at = at or clock.now()
    details: dict[str, Any] = {"reason": reason, "role": target.role, "user_id": str(target.user_id)}
    if idle is not None:
        details["inactive_days"] = idle
    audit.record("membership.deactivated", actor=actor.user if actor else None,
                 actor_type=None if actor else "system", tenant_id=target.tenant_id,
                 target_type="membership", target_id=target.id, details=details)
    return True


def reactivate_member(actor: Membership, target: Membership) -> bool:
    if target.deactivated_at is None:
        return False
    if not actor.can(Role.ADMIN):
        raise ReviewError("Only owners and admins reactivate members.")
    if ROLE_RANK[Role(target.role)] > ROLE_RANK[Role(actor.role)]:
        raise ReviewError("Only an owner can reactivate an owner.")
    target.deactivated_at = None
    audit.record("membership.reactivated", actor=actor.user, tenant_id=target.tenant_id,
                 target_type="membership", target_id=target.id,
                 details={"role": target.role, "user_id": str(target.user_id)})
    return True


def revoke_client(actor: Membership, client_id: uuid.UUID) -> Any:
    """Revoke an unused API client through the API lane's own revoke, when there is one."""
    model = api_client_model()
    if model is None:
        return None
    client = db.session.execute(sa.select(model).where(model.id == client_id)).scalar_one_or_none()
    if client is None:
        return None
    try:
        from tenantry.tenants.api import clients as api_clients
    except ImportError:
        api_clients = None
    if api_clients is not None and hasattr(api_clients, "revoke"):
        api_clients.revoke(client, actor=actor.user)
    elif getattr(client, "revoked_at", None) is None:
        client.revoked_at = clock.now()
        audit.record("api_client.revoked", actor=actor.user, tenant_id=client.tenant_id,
                     target_type="api_client", target_id=client.id, details={"reason": "account-review"})
    return client


# --- settings ------------------------------------------------------------------------------


def settings() -> AccountReviewSettings | None:
    return db.session.execute(sa.select(AccountReviewSettings)).scalar_one_or_none()


def auto_deactivate_days() -> int | None:
    row = settings()
    return row.auto_deactivate_days if row is not None else None


def set_auto_deactivate(actor: Membership, days: int | None) -> None:
    if days is not None and not AUTO_MIN_DAYS <= days <= AUTO_MAX_DAYS:
        raise ReviewError(f"Choose between {AUTO_MIN_DAYS} and {AUTO_MAX_DAYS} days, or leave it empty.")
    row = settings()
    old = row.auto_deactivate_days if row is not None else None
    if old == days:
        return
    if row is None:
        row = AccountReviewSettings(tenant_id=current_tenant.id)
        db.session.add(row)
    row.auto_deactivate_days = days
    row.updated_at = clock.now()
    audit.record("account_review.settings-changed", actor=actor.user, tenant_id=current_tenant.id,
                 target_type="tenant", target_id=current_tenant.id,
                 details={"auto_deactivate_days": {"from": old, "to": days}})


# --- stored reports and the sweep ----------------------------------------------------------


def reports(limit: int = 24) -> list[AccountReview]:
    return list(db.session.execute(
        sa.select(AccountReview).order_by(AccountReview.period.desc()).limit(limit)).scalars())


def get_report(report_id: uuid.UUID) -> AccountReview | None:
    return db.session.execute(sa.select(AccountReview).where(AccountReview.id == report_id)).scalar_one_or_none()


def period_of(at: datetime) -> str:
    return at.strftime("%Y-%m")


def _base_url() -> str:
    return current_app.extensions["tenantry.settings"].base_url


def active_owners() -> list[User]:
    return list(db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == Role.OWNER, Membership.deactivated_at.is_(None)).order_by(User.email)).scalars())


def store_monthly(tenant: Tenant, as_of: datetime) -> AccountReview | None:
    """The month's report of the current tenant, once; None when it exists already."""
    period = period_of(as_of)
    if db.session.execute(sa.select(AccountReview.id).where(AccountReview.period == period)).first():
        return None
    current = review(as_of)
    report = AccountReview(tenant_id=tenant.id, period=period, created_at=as_of, findings=current.findings())
    try:
        # A second sweep running at the same moment loses on the unique (tenant, period) key.
        with db.session.begin_nested():
            db.session.add(report)
    except IntegrityError:
        return None
    audit.record("account_review.generated", actor_type="system", tenant_id=tenant.id,
                 target_type="account_review", target_id=report.id, details={"period": period})
    link = f"{_base_url()}/t/{tenant.slug}/settings/account-review/reports/{report.id}"
    f = report.findings
    clients = f["unused_api_clients"]
    summary = (f"- members inactive for {LONG_IDLE_DAYS} days or more: {len(f['inactive_90'])}\n"
               f"- members inactive for {SHORT_IDLE_DAYS} to {LONG_IDLE_DAYS - 1} days: {len(f['inactive_30'])}\n"
               f"- members without two-factor sign-in: {len(f['without_2fa'])}\n"
               f"- owners: {f['owners']}, admins: {f['admins']}\n"
               + (f"- API clients unused for {CLIENT_IDLE_DAYS} days: {len(clients)}\n" if clients is not None else ""))
    for owner in active_owners():
        notify.create("account_review.monthly", recipient=owner, tenant_id=tenant.id, in_app=True,
                      subject=f"Monthly account review of {tenant.name} ({period})",
                      body=(f"The account review of {tenant.name} for {period} is ready.\n\n{summary}\n"
                            f"Review it and deactivate the accounts no longer needed:\n{link}\n"))
    return report


def _active_tenants() -> list[Tenant]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.slug)).scalars())


def monthly_sweep(as_of: datetime) -> int:
    """Sweep step: each active tenant's report for the month of `as_of`; idempotent per month.
    A workspace's first report is for the month after it was created: in its first weeks every
    account is new, and owners can still run the review on demand."""
    period = period_of(as_of)
    with all_tenants():
        done = set(db.session.execute(
            sa.select(AccountReview.tenant_id).where(AccountReview.period == period)).scalars())
    made = 0
    for tenant in _active_tenants():
        if tenant.id in done or period_of(tenant.created_at) >= period:
            continue
        with tenant_context(tenant):
            if store_monthly(tenant, as_of) is not None:
                made += 1
    return made


def auto_deactivate(tenant: Tenant, as_of: datetime) -> list[MemberRow]:
    """Deactivate the current tenant's members idle for its N days or more; owners are told."""
    days = auto_deactivate_days()
    if days is None:
        return []
    done = []
    for row in review(as_of).members:
        if row.idle_days < days:
            continue
        try:
            if deactivate_member(None, row.membership, reason="auto-inactive", idle=row.idle_days, at=as_of):
                done.append(row)
        except ReviewError:
            continue  # the last active owner stays, however idle
    if done:
        people = "\n".join(f"- {r.user.display_name} <{r.user.email}> ({r.membership.role}), "
                           f"inactive for {r.idle_days} days" for r in done)
        link = f"{_base_url()}/t/{tenant.slug}/settings/account-review"
        for owner in active_owners():
            notify.create("account_review.auto-deactivated", recipient=owner, tenant_id=tenant.id, in_app=True,
                          subject=f"{len(done)} inactive member(s) of {tenant.name} were deactivated",
                          body=(f"{tenant.name} deactivates members inactive for {days} days. "
                                f"These accounts no longer open the workspace:\n\n{people}\n\n"
                                f"Reactivate any of them from the account review:\n{link}\n"))
    return done


def auto_deactivate_sweep(as_of: datetime) -> int:
    with all_tenants():
        tenant_ids = set(db.session.execute(
            sa.select(AccountReviewSettings.tenant_id).where(AccountReviewSettings.auto_deactivate_days.is_not(None))
        ).scalars())
    count = 0
    for tenant in _active_tenants():
        if tenant.id in tenant_ids:
            with tenant_context(tenant):
                count += len(auto_deactivate(tenant, as_of))
    return count
