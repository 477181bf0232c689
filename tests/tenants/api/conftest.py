"""Fixtures of the API tests: an app whose limits the tests do not reach unless they mean to,
and helpers for clients, tokens and bearer requests."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tests.identity.support import NO_LIMIT, fast_password_hashing, frozen, in_app, new_tenant  # noqa: F401


@pytest.fixture
def api_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                    TENANTRY_API_RATE_LIMIT=NO_LIMIT, TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)


@pytest.fixture
def http(api_app):
    return api_app.test_client()


@pytest.fixture
def acme(api_app):
    return new_tenant(api_app, "acme", country="CZ")


@pytest.fixture
def globex(api_app):
    return new_tenant(api_app, "globex", country="CZ")


@dataclass
class Credentials:
    client_id: str
    client_secret: str
    pk: object


def new_client(app, tenant, scopes="crm:read crm:write", name="Sync") -> Credentials:
    from tenantry.tenants.api import clients

    with in_app(app):
        with tenant_context(db.session.get(Tenant, tenant.id)):
            created = clients.create(name, scopes)
            creds = Credentials(created.client.client_id, created.client_secret, created.client.id)
    return creds


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def request_token(http, creds: Credentials, **form):
    return http.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                     headers=basic(creds.client_id, creds.client_secret))


def token_for(http, creds: Credentials, **form) -> str:
    response = request_token(http, creds, **form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


class Bearer:
    """A test client that sends one access token with every request."""

    def __init__(self, http, token: str):
        self.http, self.token = http, token

    def _headers(self, extra=None):
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path, **kw):
        return self.http.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, path, **kw):
        return self.http.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path, json=None, **kw):
        return self.http.post(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, path, json=None, **kw):
        return self.http.patch(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api(http, api_app, acme) -> Bearer:
    """A bearer client of acme with crm:read and crm:write."""
    return Bearer(http, token_for(http, new_client(api_app, acme)))


def error_of(response) -> dict:
    body = response.get_json()
    assert body is not None and set(body) == {"error"}, response.get_data(as_text=True)
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]
