"""API clients from the admins' page and from the command line."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tenantry.tenants.api.models import ApiClient
from tests.identity.support import audit_events, flask_cli, in_app, new_member, sign_in, text
from tests.tenants.api.conftest import Bearer, Credentials, request_token, token_for


def _owner_web(api_app, acme):
    web = api_app.test_client()
    sign_in(web, acme.owner)
    return web


@pytest.mark.obligation("DPA-B.safe-store", "TT-least-privilege")
def test_an_admin_creates_a_client_and_sees_its_secret_once(http, api_app, acme):
    web = _owner_web(api_app, acme)
    page = web.get("/t/acme/settings/api-clients")
    assert page.status_code == 200 and "No API clients yet." in text(page)
    assert 'href="/t/acme/settings/api-clients"' in text(page)  # in the sidebar
    created = web.post("/t/acme/settings/api-clients", data={"name": "Invoicing sync",
                                                             "scopes": ["crm:read", "export"]})
    assert created.status_code == 200
    html = text(created)
    client_id, secret = re.findall(r'<code class="secret" data-copy-label="client (?:ID|secret)">([^<]+)</code>', html)
    assert client_id.startswith("tc_") and len(secret) >= 43
    token = request_token(http, Credentials(client_id, secret, None))
    assert token.status_code == 200 and token.get_json()["scope"] == "crm:read export"
    # Listed afterwards without the secret, which is stored only as a digest.
    listing = text(web.get("/t/acme/settings/api-clients"))
    assert client_id in listing and "Invoicing sync" in listing and secret not in listing
    with in_app(api_app, commit=False), all_tenants():
        stored = db.session.execute(sa.select(ApiClient)).scalar_one()
        assert secret not in (stored.secret_hash, stored.client_id) and stored.created_by_id == acme.owner.id
    events = audit_events(api_app, "api_client.created")
    assert [(e["actor_type"], e["actor_id"], e["details"]) for e in events] == [
        ("user", str(acme.owner.id), {"scopes": ["crm:read", "export"]})]


def test_the_form_refuses_a_missing_name_or_no_scope(api_app, acme):
    web = _owner_web(api_app, acme)
    response = web.post("/t/acme/settings/api-clients", data={"name": "", "scopes": []})
    assert response.status_code == 422
    html = text(response)
    assert "Give the client a name." in html and "Choose at least one scope." in html
    bogus = web.post("/t/acme/settings/api-clients", data={"name": "X", "scopes": ["root"]})
    assert bogus.status_code == 422
    with in_app(api_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(sa.func.count()).select_from(ApiClient)).scalar_one() == 0


def test_an_admin_revokes_a_client_and_its_token_dies(http, api_app, acme):
    web = _owner_web(api_app, acme)
    html = text(web.post("/t/acme/settings/api-clients", data={"name": "Sync", "scopes": ["crm:read"]}))
    client_id, secret = re.findall(r'<code class="secret" data-copy-label="client (?:ID|secret)">([^<]+)</code>', html)
    api = Bearer(http, token_for(http, Credentials(client_id, secret, None)))
    assert api.get("/api/v1/contacts").status_code == 200
    with in_app(api_app, commit=False), all_tenants():
        pk = db.session.execute(sa.select(ApiClient.id)).scalar_one()
    revoked = web.post(f"/t/acme/settings/api-clients/{pk}/revoke")
    assert revoked.status_code == 302
    assert api.get("/api/v1/contacts").status_code == 401
    assert "revoked" in text(web.get("/t/acme/settings/api-clients"))
    assert len(audit_events(api_app, "api_client.revoked")) == 1
    assert web.post(f"/t/acme/settings/api-clients/{pk}/revoke").status_code == 302
    assert len(audit_events(api_app, "api_client.revoked")) == 1


@pytest.mark.obligation("DPA-B.permissions")
def test_members_and_viewers_cannot_manage_clients(api_app, acme):
    for role in ("member", "viewer"):
        person = new_member(api_app, acme, role)
        web = api_app.test_client()
        sign_in(web, person)
        assert web.get("/t/acme/settings/api-clients").status_code == 403
        assert web.post("/t/acme/settings/api-clients", data={"name": "X", "scopes": ["crm:read"]}).status_code == 403
        assert 'href="/t/acme/settings/api-clients"' not in text(web.get("/t/acme/"))


def test_another_tenants_client_cannot_be_revoked(api_app, acme, globex):
    from tests.tenants.api.conftest import new_client

    theirs = new_client(api_app, globex)
    web = _owner_web(api_app, acme)
    assert web.post(f"/t/acme/settings/api-clients/{theirs.pk}/revoke").status_code == 404
    assert audit_events(api_app, "api_client.revoked") == []


def test_the_cli_creates_lists_and_revokes_clients(http, api_app, acme):
    result = flask_cli(api_app, "tenantry", "api-clients", "create", "acme", "--name", "ETL",
                       "--scopes", "crm:read crm:write export", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert set(printed) >= {"client_id", "client_secret"}
    creds = Credentials(printed["client_id"], printed["client_secret"], None)
    token = request_token(http, creds)
    assert token.status_code == 200 and token.get_json()["scope"] == "crm:read crm:write export"

    listed = flask_cli(api_app, "tenantry", "api-clients", "list", "acme", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert [(r["client_id"], r["name"], r["revoked_at"]) for r in rows] == [(creds.client_id, "ETL", None)]
    assert rows[0]["last_used_at"] is not None

    revoked = flask_cli(api_app, "tenantry", "api-clients", "revoke", "acme", creds.client_id)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert request_token(http, creds).status_code == 401


def test_the_cli_refuses_bad_input(api_app, acme, globex):
    unknown = flask_cli(api_app, "tenantry", "api-clients", "create", "nope", "--name", "X", "--scopes", "crm:read")
    assert unknown.exit_code != 0 and "no tenant" in unknown.output
    scope = flask_cli(api_app, "tenantry", "api-clients", "create", "acme", "--name", "X", "--scopes", "crm:all")
    assert scope.exit_code != 0 and "Unknown scope" in scope.output
    theirs = json.loads(flask_cli(api_app, "tenantry", "api-clients", "create", "globex", "--name", "G",
                                  "--scopes", "crm:read", "--json").output)
    across = flask_cli(api_app, "tenantry", "api-clients", "revoke", "acme", theirs["client_id"])
    assert across.exit_code != 0 and "no client" in across.output
