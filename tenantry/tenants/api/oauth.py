"""The OAuth2 server of the API (Authlib): client credentials at POST /oauth/token, HTTP Basic
client authentication only, and the bearer-token check behind every /api/v1 route.

Clients and tokens are found before any tenant is known (the credentials say which tenant),
so those two lookups run under all_tenants(); everything after them runs in the client's
tenant only.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.signals import token_authenticated
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from tenantry.platform import audit, clock
from tenantry.platform.crypto import keyring
from tenantry.platform.db import db
from tenantry.platform.extensions import csrf, limiter
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants

from . import token_cache
from .clients import digest
from .models import SCOPES, ApiClient, ApiToken
from .rate_limit import count_request

TOKEN_LIFETIME = timedelta(hours=1)

oauth_bp = Blueprint("oauth", __name__)


def _live_client(client_id: str) -> ApiClient | None:
    with all_tenants():
        return db.session.execute(
            sa.select(ApiClient).join(Tenant, Tenant.id == ApiClient.tenant_id)
            .where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None),
                   Tenant.status != TenantStatus.DELETED.value)
        ).scalar_one_or_none()


def _save_token(token: dict, request) -> None:
    client: ApiClient = request.client
    now = clock.now()
    if token.get("scope"):  # "crm:read crm:read" asks for one scope, and is granted as one
        token["scope"] = " ".join(dict.fromkeys(token["scope"].split()))
    with all_tenants():
        db.session.add(ApiToken(tenant_id=client.tenant_id, client_id=client.id,
                                token_hash=digest(token["access_token"]), scope=token.get("scope") or "",
                                issued_at=now, expires_at=now + timedelta(seconds=int(token["expires_in"]))))
        client.last_used_at = now
        audit.record("api_client.token_issued", actor=client, tenant_id=client.tenant_id,
                     target_type="api_client", target_id=client.id, details={"scope": token.get("scope") or ""})


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def validate_requested_scope(self):
        # A client asking for a scope it was not given is refused outright rather than handed
        # a narrower token it may not notice.
        asked = (self.request.payload.scope or "").split()
        allowed = set(self.request.client.scope_list) if self.request.client else set(SCOPES)
        if any(s not in allowed for s in asked):
            raise InvalidScopeError(description="The client was not given every scope requested.")


@dataclass
class Grant:
    """A valid-looking token with its client and tenant, for the bearer check."""

    token: ApiToken
    client: ApiClient
    tenant: Tenant
    token_hash: str

    def is_expired(self) -> bool:
        return self.token.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        return self.client.revoked_at is not None or self.tenant.status == TenantStatus.DELETED.value

    def get_scope(self) -> str:
        return self.token.scope


@functools.cache
def _grant_statement() -> sa.Select:
    """A token with its client and tenant, and the tenant's active keys (the request decrypts
    with them next): one statement, not one more per key."""
    return keyring.active_keys_joined(
        sa.select(ApiToken, ApiClient, Tenant)
        .join(ApiClient, sa.and_(ApiClient.tenant_id == ApiToken.tenant_id, ApiClient.id == ApiToken.client_id))
        .join(Tenant, Tenant.id == ApiToken.tenant_id)
        .where(ApiToken.token_hash == sa.bindparam("token_hash")), Tenant.id)


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Grant | None:
        token_hash = digest(token_string)
        remembered = token_cache.recall(token_hash, db.session(), count_request)
        if remembered is not None:
            keyring.prime(remembered[3:])
            return Grant(*remembered[:3], token_hash=token_hash)
        generation = token_cache.generation_before_lookup()
        with all_tenants():
            rows = db.session.execute(_grant_statement(), {"token_hash": token_hash}).all()
        if not rows:
            return None
        keys = [row[3] for row in rows if row[3] is not None]
        keyring.prime(keys)
        token_cache.remember(token_hash, (*rows[0][:3], *keys), generation)
        return Grant(*rows[0][:3], token_hash=token_hash)

    def validate_token(self, token, scopes, request):
        if token is not None and token.is_expired():
            raise InvalidTokenError(description="The access token has expired; request a new one.",
                                    realm=self.realm, extra_attributes=self.extra_attributes)
        if token is not None and token.is_revoked():
            raise InvalidTokenError(description="The access token was revoked.",
                                    realm=self.realm, extra_attributes=self.extra_attributes)
        super().validate_token(token, scopes, request)


class _Headers:
    """What the bearer check reads of a request: its headers."""

    def __init__(self, headers):
        self.headers = headers


class BearerProtector(ResourceProtector):
    """Authlib's resource protector, handed the request's headers only. Its own acquire_token
    wraps the request as an OAuth2Request first (the full URL, quoted; a JSON payload), a few
    per cent of a detail read, for validators that may read them; ours reads the
    Authorization header alone."""

    def acquire_token(self, scopes=None, **kwargs):
        token = self.validate_request(scopes=scopes, request=_Headers(request.headers), **kwargs)
        token_authenticated.send(self, token=token)
        g.authlib_server_oauth2_token = token
        return token


protector = BearerProtector()
protector.register_token_validator(TokenValidator(realm="tenantry"))


def server() -> AuthorizationServer:
    return current_app.extensions["tenantry.oauth_server"]


def _token_rate_limit() -> str:
    return current_app.config["TENANTRY_API_TOKEN_RATE_LIMIT"]


def _token_limit_breached(limit) -> Response:
    retry = max(1, int(limit.reset_at - time.time()))
    response = jsonify({"error": "too_many_requests",
                        "error_description": f"Too many token requests; try again in {retry} s."})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry)
    return response


@oauth_bp.errorhandler(429)
def _too_many(exc):
    # The app-wide handler would render its own page; the response built on breach is RFC-shaped.
    return getattr(exc, "response", None) or (jsonify({"error": "too_many_requests"}), 429)


# Guessing a secret is hopeless (256 bits), but the endpoint should not take unlimited work
# from one address either.
@oauth_bp.post("/oauth/token")
@csrf.exempt
@limiter.limit(_token_rate_limit, on_breach=_token_limit_breached)
def token():
    try:
        response = server().create_token_response()
    except UnicodeDecodeError:  # Authlib decodes HTTP Basic credentials as UTF-8 and lets this out
        db.session.rollback()
        response = jsonify({"error": "invalid_client",
                            "error_description": "The client credentials are not UTF-8 text."})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="tenantry"'
    if response.status_code == 200:
        db.session.commit()
    else:
        db.session.rollback()
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": int(TOKEN_LIFETIME.total_seconds())})
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
    authorization = AuthorizationServer()
    authorization.init_app(app, query_client=_live_client, save_token=_save_token)
    authorization.register_grant(ClientCredentialsGrant)
    app.extensions["tenantry.oauth_server"] = authorization
    app.register_blueprint(oauth_bp)
