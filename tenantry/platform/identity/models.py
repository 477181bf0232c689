"""Accounts. Tenant users and the operator's staff are separate tables: a staff account is
never a tenant account, and every account belongs to exactly one person [TT-unique-ids]."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class StaffRole(enum.StrEnum):
    PLATFORM_ADMIN = "platform-admin"
    DPO = "dpo"
    SUPPORT = "support"


class Credentials:
    """Password and TOTP state shared by tenant users and staff."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    password_changed_at: Mapped[datetime | None]
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    # RFC 6238 5.2: the last accepted time step; the same or an earlier step is refused.
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    totp_failures: Mapped[int] = mapped_column(default=0)
    totp_locked_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_login_at: Mapped[datetime | None]

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_staff(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def get_id(self) -> str | None:
        # Flask-Login keeps this in the cookie: the token of the server-side AuthSession.
        return getattr(self, "_auth_token", None)


class User(Credentials, UserMixin, db.Model):
    __tablename__ = "users"



class StaffUser(Credentials, UserMixin, db.Model):
    __tablename__ = "staff_users"

    role: Mapped[str] = mapped_column(sa.String(20))

    __table_args__ = (sa.CheckConstraint("role in ('platform-admin', 'dpo', 'support')", name="role"),)

    @property
    def is_staff(self) -> bool:
        return True



class PrincipalRef:
    """Exactly one of user_id / staff_id is set: rows that belong to an account of either kind."""

    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )

    @classmethod
    def for_principal(cls, principal, **kw):
        if principal.is_staff:
            return cls(staff_id=principal.id, **kw)
        return cls(user_id=principal.id, **kw)

    @classmethod
    def principal_filter(cls, principal):
        return (cls.staff_id == principal.id) if principal.is_staff else (cls.user_id == principal.id)


def _one_principal():
    return sa.CheckConstraint("(user_id IS NULL) <> (staff_id IS NULL)", name="one_principal")


class AuthSession(PrincipalRef, db.Model):
    """A signed-in browser. The cookie carries a random token; only its hash is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(60))

    __table_args__ = (_one_principal(),)


class RecoveryCode(PrincipalRef, db.Model):
    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    used_at: Mapped[datetime | None]

    __table_args__ = (_one_principal(),)


class SetupToken(PrincipalRef, db.Model):
    """A one-time link to set a password (first set-up or reset)."""

    __tablename__ = "setup_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    purpose: Mapped[str] = mapped_column(sa.String(20), default="setup")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (_one_principal(),)


class Membership(TenantScoped, db.Model):
    __tablename__ = "memberships"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Set by the account review [TT-account-review]: the account stays (its history too) but
    # no longer opens the workspace.
    deactivated_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "user_id"),
        sa.CheckConstraint("role in ('owner', 'admin', 'member', 'viewer')", name="role"),
    )

    user = db.relationship(User, lazy="joined")

    def can(self, needed: Role | str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(needed)]


class Invitation(TenantScoped, db.Model):
    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[str] = mapped_column(sa.String(10))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("role in ('owner', 'admin', 'member', 'viewer')", name="role"),
    )
