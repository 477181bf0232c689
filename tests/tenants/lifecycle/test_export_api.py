"""The export API: POST 202 -> poll until done -> download the ZIP; the `export` scope is
required; another workspace's export is 404; the download ends after 7 days."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tests.identity.support import NO_LIMIT, audit_events, in_app
from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for
from tests.tenants.lifecycle.export_support import entity, open_zip, seed


@pytest.fixture
def eapp(make_app):
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT, TENANTRY_API_RATE_LIMIT=NO_LIMIT,
                    TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)


@pytest.fixture
def ehttp(eapp):
    return eapp.test_client()


@pytest.fixture
def acme(eapp):
    from tests.identity.support import new_tenant

    ref = new_tenant(eapp, "acme")
    with in_app(eapp):
        seed(db.session.get(Tenant, ref.id))
    return ref


@pytest.fixture
def exporter(ehttp, eapp, acme) -> Bearer:
    return Bearer(ehttp, token_for(ehttp, new_client(eapp, acme, scopes="export")))


@pytest.mark.obligation("DPA-4.10", "DSR-portability")
def test_post_202_then_done_then_download_the_zip(exporter, eapp, acme):
    started = exporter.post("/api/v1/exports")
    assert started.status_code == 202
    body = started.get_json()
    assert set(body) == {"id", "status"} and body["status"] == "queued"
    assert started.headers["Location"] == f"/api/v1/exports/{body['id']}"
    # Without Redis the job ran when the request ended.
    status = exporter.get(f"/api/v1/exports/{body['id']}").get_json()
    assert status["status"] == "done" and status["progress"] == 100
    assert status["download_url"] == f"/api/v1/exports/{body['id']}/download"
    download = exporter.get(status["download_url"])
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert len(entity(open_zip(download.get_data()), "contacts")) == 3
    reads = audit_events(eapp, "export.downloaded")
    assert len(reads) == 1 and reads[0]["actor_type"] == "api_client"
    assert audit_events(eapp, "export.requested")[0]["actor_type"] == "api_client"


def test_the_export_scope_is_required(ehttp, eapp, acme):
    reader = Bearer(ehttp, token_for(ehttp, new_client(eapp, acme, scopes="crm:read crm:write", name="CRM")))
    refused = reader.post("/api/v1/exports")
    assert refused.status_code == 403 and error_of(refused)["code"] == "insufficient_scope"
    assert ehttp.post("/api/v1/exports").status_code == 401


@pytest.mark.obligation("DPA-B.access-control")
def test_another_workspaces_export_is_404(ehttp, eapp, acme, exporter):
    from tests.identity.support import new_tenant

    other = new_tenant(eapp, "other")
    theirs = Bearer(ehttp, token_for(ehttp, new_client(eapp, other, scopes="export", name="Other")))
    export_id = exporter.post("/api/v1/exports").get_json()["id"]
    for path in (f"/api/v1/exports/{export_id}", f"/api/v1/exports/{export_id}/download"):
        response = theirs.get(path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


@pytest.mark.obligation("DPA-4.10")
def test_the_download_answers_410_after_7_days(ehttp, eapp, acme, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    creds = new_client(eapp, acme, scopes="export")
    export_id = Bearer(ehttp, token_for(ehttp, creds)).post("/api/v1/exports").get_json()["id"]
    time_machine.shift(timedelta(days=7) - timedelta(seconds=1))
    # Access tokens are short-lived: a fresh one at each moment.
    assert Bearer(ehttp, token_for(ehttp, creds)).get(f"/api/v1/exports/{export_id}/download").status_code == 200
    time_machine.shift(timedelta(seconds=1))
    later = Bearer(ehttp, token_for(ehttp, creds))
    gone = later.get(f"/api/v1/exports/{export_id}/download")
    assert gone.status_code == 410 and error_of(gone)["code"] == "expired"
    assert later.get(f"/api/v1/exports/{export_id}").get_json()["download_url"] is None
