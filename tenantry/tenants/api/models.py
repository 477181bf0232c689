"""API clients of a tenant and the access tokens issued to them (OAuth2 client credentials).

Secrets and tokens are stored only as SHA-256 digests. They are 32 random bytes each, so a
slow password hash (argon2) would add nothing: nobody can guess 256 bits, and a fast digest
keeps the per-request token lookup cheap. Digests are compared in constant time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

SCOPES = ("crm:read", "crm:write", "export", "audit:read")
GRANT_TYPE = "client_credentials"


class ApiClient(TenantScoped, db.Model):
    __tablename__ = "api_clients"
    # The audit trail names API clients as their own kind of actor, never as a person.
    audit_actor_type = "api_client"
    is_staff = False

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(100))
    # Public and unique across tenants: the token endpoint finds the client (and its tenant) by it.
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[str] = mapped_column(sa.String(200))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (sa.UniqueConstraint("tenant_id", "id"),)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    # --- authlib.oauth2.rfc6749.ClientMixin ----------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # No scope asked for: the token carries every scope the client was given.
        if not scope:
            return self.scopes
        allowed = set(self.scope_list)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        from .clients import digest_matches

        return digest_matches(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE


class ApiToken(TenantScoped, db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scope: Mapped[str] = mapped_column(sa.String(200))
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "client_id"], ["api_clients.tenant_id", "api_clients.id"],
                                ondelete="CASCADE"),
        sa.Index("ix_api_tokens_tenant_client", "tenant_id", "client_id"),
    )
