"""API clients: create (the secret is shown once), list, revoke, and the digests behind them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant

from .models import SCOPES, ApiClient, ApiToken


class ClientError(ValueError):
    """A request the service refuses; the message says why."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def digest_matches(stored: str, presented: str) -> bool:
    return hmac.compare_digest(stored, digest(presented))


@dataclass
class Created:
    client: ApiClient
    client_secret: str  # the only time it exists in the clear


def normalise_scopes(scopes) -> list[str]:
    """The requested scopes in canonical order; unknown or no scopes are refused."""
    asked = scopes.split() if isinstance(scopes, str) else list(scopes)
    unknown = [s for s in asked if s not in SCOPES]
    if unknown:
        raise ClientError(f"Unknown scope: {', '.join(unknown)}. Choose from {', '.join(SCOPES)}.")
    chosen = [s for s in SCOPES if s in asked]
    if not chosen:
        raise ClientError("Choose at least one scope.")
    return chosen


def create(name: str, scopes, *, actor=None) -> Created:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ClientError("Give the client a name of at most 100 characters.")
    chosen = normalise_scopes(scopes)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        tenant_id=current_tenant.id, name=name, client_id="tc_" + secrets.token_urlsafe(18),
        secret_hash=digest(secret), scopes=" ".join(chosen),
        created_by_id=actor.id if actor is not None and not getattr(actor, "is_staff", False) else None,
    )
    db.session.add(client)
    db.session.flush()
    audit.record("api_client.created", actor=actor, tenant_id=client.tenant_id, target_type="api_client",
                 target_id=client.id, details={"scopes": chosen})
    return Created(client, secret)


def get(client_pk: uuid.UUID) -> ApiClient | None:
    return db.session.get(ApiClient, client_pk)


def by_client_id(client_id: str) -> ApiClient | None:
    """Within the current tenant: another tenant's client id finds nothing."""
    return db.session.execute(sa.select(ApiClient).where(ApiClient.client_id == client_id)).scalar_one_or_none()


def listing() -> list[ApiClient]:
    """Active clients first, then revoked ones; newest first within each."""
    rows = db.session.execute(sa.select(ApiClient).order_by(ApiClient.created_at.desc(), ApiClient.id)).scalars()
    return sorted(rows, key=lambda c: c.revoked_at is not None)


def revoke(client: ApiClient, *, actor=None) -> bool:
    """Revoke the client and delete its tokens: they stop working with the next request.
    Returns False when it was revoked already (nothing is recorded twice)."""
    if client.revoked_at is not None:
        return False
    client.revoked_at = clock.now()
    db.session.execute(sa.delete(ApiToken).where(ApiToken.tenant_id == client.tenant_id,
                                                 ApiToken.client_id == client.id))
    db.session.flush()
    audit.record("api_client.revoked", actor=actor, tenant_id=client.tenant_id, target_type="api_client",
                 target_id=client.id)
    return True


def purge_expired_tokens(as_of: datetime) -> int:
    """Sweep step: expired tokens are useless and only grow the table."""
    from tenantry.platform.tenancy import all_tenants

    with all_tenants():
        gone = db.session.execute(sa.delete(ApiToken).where(ApiToken.expires_at < as_of)).rowcount
    db.session.commit()
    return gone or 0
