"""OAuth2 client credentials: tokens for a client's tenant only, scopes, expiry, revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.api import clients
from tenantry.tenants.api.models import ApiClient, ApiToken
from tests.identity.support import in_app
from tests.tenants.api.conftest import Bearer, basic, error_of, new_client, request_token, token_for


def test_a_client_gets_a_bearer_token_with_its_scopes(http, api_app, acme):
    creds = new_client(api_app, acme, "crm:read export")
    response = request_token(http, creds)
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "crm:read export"
    assert len(body["access_token"]) >= 40
    assert response.headers["Cache-Control"] == "no-store"
    with in_app(api_app, commit=False), all_tenants():
        stored = db.session.execute(sa.select(ApiToken)).scalar_one()
        # Only a digest is kept: the token itself is nowhere in the database.
        assert stored.token_hash == clients.digest(body["access_token"]) != body["access_token"]
        assert stored.tenant_id == acme.id
        client = db.session.execute(sa.select(ApiClient)).scalar_one()
        assert client.secret_hash == clients.digest(creds.client_secret) and client.last_used_at is not None


def test_a_narrower_scope_can_be_asked_for_and_a_wider_one_is_refused(http, api_app, acme):
    creds = new_client(api_app, acme, "crm:read crm:write")
    narrow = request_token(http, creds, scope="crm:read")
    assert narrow.status_code == 200 and narrow.get_json()["scope"] == "crm:read"
    wide = request_token(http, creds, scope="crm:read export")
    assert wide.status_code == 400 and wide.get_json()["error"] == "invalid_scope"
    unknown = request_token(http, creds, scope="admin")
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_scope"


def test_token_endpoint_errors_follow_rfc_6749(http, api_app, acme):
    creds = new_client(api_app, acme)
    wrong_secret = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             headers=basic(creds.client_id, "not-the-secret"))
    assert wrong_secret.status_code == 401 and wrong_secret.get_json()["error"] == "invalid_client"
    unknown = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("tc_nobody", "x"))
    assert unknown.status_code == 401 and unknown.get_json()["error"] == "invalid_client"
    # The secret in the body instead of HTTP Basic is not accepted.
    in_body = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": creds.client_id,
                                              "client_secret": creds.client_secret})
    assert in_body.status_code == 401 and in_body.get_json()["error"] == "invalid_client"
    grant = http.post("/oauth/token", data={"grant_type": "password"},
                      headers=basic(creds.client_id, creds.client_secret))
    assert grant.status_code == 400 and grant.get_json()["error"] == "unsupported_grant_type"
    assert http.get("/oauth/token").status_code == 405


def test_requests_without_a_valid_token_are_refused(http, api_app, acme):
    missing = http.get("/api/v1/contacts")
    assert missing.status_code == 401 and error_of(missing)["code"] == "missing_authorization"
    bogus = Bearer(http, "x" * 43).get("/api/v1/contacts")
    assert bogus.status_code == 401 and error_of(bogus)["code"] == "invalid_token"
    assert "Bearer" in bogus.headers["WWW-Authenticate"]
    basic_auth = http.get("/api/v1/contacts", headers=basic("a", "b"))
    assert basic_auth.status_code == 401 and error_of(basic_auth)["code"] == "unsupported_token_type"


@pytest.mark.obligation("DPA-B.access-control")
def test_an_expired_token_stops_working(http, api_app, acme, time_machine):
    time_machine.move_to("2026-06-01T09:00:00Z", tick=False)
    api = Bearer(http, token_for(http, new_client(api_app, acme, "crm:read")))
    assert api.get("/api/v1/contacts").status_code == 200
    time_machine.shift(timedelta(minutes=59))
    assert api.get("/api/v1/contacts").status_code == 200
    time_machine.shift(timedelta(minutes=1))
    expired = api.get("/api/v1/contacts")
    assert expired.status_code == 401 and error_of(expired)["code"] == "invalid_token"
    assert "expired" in error_of(expired)["message"]


@pytest.mark.obligation("DPA-B.access-control", "TT-least-privilege")
def test_a_token_without_the_scope_gets_403(http, api_app, acme):
    reader = Bearer(http, token_for(http, new_client(api_app, acme, "crm:read")))
    refused = reader.post("/api/v1/contacts", json={"first_name": "Jana"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "insufficient_scope"
    exporter = Bearer(http, token_for(http, new_client(api_app, acme, "export")))
    assert exporter.get("/api/v1/contacts").status_code == 403


@pytest.mark.obligation("DPA-B.access-control", "TT-account-review")
def test_revoking_a_client_kills_its_tokens_at_once(http, api_app, acme):
    creds = new_client(api_app, acme, "crm:read")
    api = Bearer(http, token_for(http, creds))
    assert api.get("/api/v1/contacts").status_code == 200
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert clients.revoke(clients.get(creds.pk)) is True
    dead = api.get("/api/v1/contacts")
    assert dead.status_code == 401 and error_of(dead)["code"] == "invalid_token"
    again = request_token(http, creds)
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"
    with in_app(api_app, commit=False):
        actions = db.session.execute(sa.select(AuditEvent.action).where(AuditEvent.tenant_id == acme.id)).scalars()
        assert {"api_client.created", "api_client.token_issued", "api_client.revoked"} <= set(actions)


def test_a_deleted_tenants_tokens_are_dead(http, api_app, acme):
    creds = new_client(api_app, acme, "crm:read")
    api = Bearer(http, token_for(http, creds))
    with in_app(api_app):
        db.session.get(Tenant, acme.id).status = "deleted"
    assert api.get("/api/v1/contacts").status_code == 401
    assert request_token(http, creds).status_code == 401


@pytest.mark.parametrize("counted_in", ["flask-limiter memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_per_client_rate_limit_answers_429_with_retry_after(make_app, request, counted_in):
    # With Redis the window is token_cache's script, shared by every worker; without, Flask-Limiter's.
    redis_url = request.getfixturevalue("redis_url") if counted_in == "redis" else ""

    def worker():
        return make_app(REDIS_URL=redis_url, TENANTRY_API_RATE_LIMIT="3 per minute",
                        TENANTRY_API_TOKEN_RATE_LIMIT="100 per minute")

    app = worker()
    http = app.test_client()
    from tests.identity.support import new_tenant

    tenant = new_tenant(app, "ratey")
    first = Bearer(http, token_for(http, new_client(app, tenant, "crm:read")))
    second = Bearer(http, token_for(http, new_client(app, tenant, "crm:read")))
    assert [first.get("/api/v1/contacts").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/contacts")
    assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # Keyed by client: another client of the same tenant is not held back.
    assert second.get("/api/v1/contacts").status_code == 200
    if redis_url:  # another worker counts in the same window
        assert Bearer(worker().test_client(), first.token).get("/api/v1/contacts").status_code == 429


def test_the_token_endpoint_is_rate_limited_per_address(make_app):
    app = make_app(TENANTRY_API_TOKEN_RATE_LIMIT="2 per minute")
    http = app.test_client()
    from tests.identity.support import new_tenant

    creds = new_client(app, new_tenant(app, "tokeny"), "crm:read")
    assert [request_token(http, creds).status_code for _ in range(2)] == [200, 200]
    limited = request_token(http, creds)
    assert limited.status_code == 429 and limited.get_json()["error"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) >= 1


def test_api_requests_skip_the_browser_hooks_which_still_run_elsewhere(make_app, monkeypatch):
    """Flask-Login's remember-me cookie and Flask-Limiter's per-address limits have nothing to
    do for a bearer token: their hooks return at once on /api/v1 (web._spare_bearer_requests),
    and still run for every other endpoint."""
    from flask_limiter import Limiter
    from flask_login import LoginManager

    from tests.identity.support import new_tenant

    ran = []
    hooks = ((Limiter, "_check_request_limit"), (Limiter, "_Limiter__inject_headers"),
             (Limiter, "_Limiter__release_context"), (LoginManager, "_update_remember_cookie"))
    for cls, name in hooks:
        def spy(self, *args, _original=getattr(cls, name), _name=name, **kwargs):
            ran.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, spy)  # before the app registers them
    app = make_app(TENANTRY_API_TOKEN_RATE_LIMIT="5 per minute")
    http = app.test_client()
    api = Bearer(http, token_for(http, new_client(app, new_tenant(app, "hooky"), "crm:read")))

    ran.clear()
    answer = api.get("/api/v1/contacts")
    assert answer.status_code == 200 and ran == []
    assert "Set-Cookie" not in answer.headers
    # The token endpoint is no bearer endpoint: its per-address limit runs, headers and all.
    issued = request_token(http, new_client(app, new_tenant(app, "hooky2"), "crm:read"))
    assert issued.status_code == 200 and issued.headers["X-RateLimit-Limit"] == "5"
    assert set(ran) == {name for _cls, name in hooks}


def test_write_gates_can_refuse_writes_but_not_reads(http, api_app, acme):
    from tenantry.tenants.api import api_error

    seen = []

    def read_only(tenant):
        seen.append(tenant.slug)
        return api_error(409, "read_only", "This workspace is read-only.")

    api_app.extensions.setdefault("tenantry.api_write_gates", []).append(read_only)
    api = Bearer(http, token_for(http, new_client(api_app, acme)))
    assert api.get("/api/v1/contacts").status_code == 200
    refused = api.post("/api/v1/contacts", json={"first_name": "Jana"})
    assert refused.status_code == 409 and error_of(refused)["code"] == "read_only"
    assert seen == ["acme"]


def test_with_redis_down_the_rate_limited_routes_answer_and_still_count_in_memory(make_app):
    """Flask-Limiter keeps its counts in Redis; when Redis did not answer, the token endpoint
    and sign-in failed with a 500. Each process now counts in memory until Redis is back."""
    from tests.conftest import free_port
    from tests.identity.support import new_tenant

    up = make_app()
    creds = new_client(up, new_tenant(up, "tokeny"), "crm:read")
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", TENANTRY_API_TOKEN_RATE_LIMIT="2 per minute",
                   TENANTRY_RATELIMIT_LOGIN="2 per minute", WTF_CSRF_ENABLED=False)
    http = app.test_client()
    assert [request_token(http, creds).status_code for _ in range(2)] == [200, 200]
    assert request_token(http, creds).status_code == 429
    signs_in = [http.post("/login", data={"email": "nobody@example.com", "password": "wrong"}).status_code
                for _ in range(3)]
    assert 500 not in signs_in[:2] and signs_in[2] == 429


@pytest.mark.redis
def test_while_redis_does_not_answer_the_per_client_limit_counts_in_memory(make_app, redis_url, monkeypatch):
    """The window lives in Redis; when Redis stopped answering, every request went uncounted."""
    from redis import Redis

    from tenantry.platform import redis_scripts
    from tests.conftest import free_port
    from tests.identity.support import new_tenant

    app = make_app(REDIS_URL=redis_url, TENANTRY_API_RATE_LIMIT="3 per minute",
                   TENANTRY_API_TOKEN_RATE_LIMIT="100 per minute")
    http = app.test_client()
    api = Bearer(http, token_for(http, new_client(app, new_tenant(app, "ratey"), "crm:read")))
    assert api.get("/api/v1/contacts").status_code == 200  # counted in Redis
    closed = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(redis_scripts, "kept_client",
                        lambda _purpose: Redis.from_url(closed, single_connection_client=True))
    assert [api.get("/api/v1/contacts").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/api/v1/contacts")
    assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
