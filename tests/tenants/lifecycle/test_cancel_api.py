"""A cancelled workspace is read-only through the API too; reading and exporting go on
[DPA-4.10]."""

from __future__ import annotations

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tenantry.tenants.lifecycle import cancellation
from tests.identity.support import NO_LIMIT, in_app
from tests.tenants.api.conftest import Bearer, new_client, token_for
from tests.tenants.lifecycle.lifecycle_support import contact_count, owned_tenant

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.mark.obligation("DPA-4.10")
def test_api_writes_are_refused_while_reads_and_exports_go_on(make_app):
    api_app = make_app(TENANTRY_RATELIMIT_LOGIN=NO_LIMIT, TENANTRY_API_RATE_LIMIT=NO_LIMIT,
                       TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)
    http = api_app.test_client()
    acme = owned_tenant(api_app, "acme")
    other = owned_tenant(api_app, "globex")
    api = Bearer(http, token_for(http, new_client(api_app, acme, scopes="crm:read crm:write export")))
    other_api = Bearer(http, token_for(http, new_client(api_app, other)))
    created = api.post("/api/v1/contacts", json={"last_name": "Novak"})
    assert created.status_code == 201, created.get_data(as_text=True)
    contact_id = created.get_json()["id"]

    with in_app(api_app):
        cancellation.cancel(db.session.get(Tenant, acme.id), channel="staff", reference="T-1")

    for response in (api.post("/api/v1/contacts", json={"last_name": "Svoboda"}),
                     api.patch(f"/api/v1/contacts/{contact_id}", json={"last_name": "Dvorak"}),
                     api.delete(f"/api/v1/contacts/{contact_id}")):
        assert response.status_code == 423
        assert response.get_json()["error"]["code"] == "read_only"
    assert contact_count(api_app, acme.id) == 1
    assert api.get(f"/api/v1/contacts/{contact_id}").get_json()["last_name"] == "Novak"
    assert api.post("/api/v1/exports").status_code == 202
    # Another tenant's API keeps writing.
    assert other_api.post("/api/v1/contacts", json={"last_name": "Keeper"}).status_code == 201
