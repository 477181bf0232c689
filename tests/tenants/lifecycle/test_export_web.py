"""The exports page: an owner or admin starts an export, watches it, downloads it (audited);
members cannot, and another tenant's export answers 404."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.lifecycle.export_models import Export
from tests.identity.support import in_app, login_password, new_member, new_tenant, text
from tests.tenants.lifecycle.export_support import entity, open_zip, seed


@pytest.fixture
def acme(web_app):
    ref = new_tenant(web_app, "acme")
    with in_app(web_app):
        seed(db.session.get(Tenant, ref.id))
    return ref


def _client(web_app, tenant, role):
    person = new_member(web_app, tenant, role)
    client = web_app.test_client()
    assert login_password(client, person.email).status_code == 302
    return client, person


@pytest.mark.obligation("DPA-4.10", "DSR-portability")
def test_an_admin_starts_an_export_sees_it_done_and_downloads_the_zip(web_app, acme):
    admin, person = _client(web_app, acme, "admin")
    page = admin.get("/t/acme/exports")
    assert page.status_code == 200 and "Start export" in text(page)
    started = admin.post("/t/acme/exports")
    assert started.status_code == 302
    export_id = re.search(r"/exports/([0-9a-f-]{36})$", started.headers["Location"]).group(1)
    # The job ran inline after the request committed.
    shown = text(admin.get(f"/t/acme/exports/{export_id}"))
    assert "Download ZIP" in shown and 'http-equiv="refresh"' not in shown
    download = admin.get(f"/t/acme/exports/{export_id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert 'filename="tenantry-export-acme-' in download.headers["Content-Disposition"]
    zf = open_zip(download.get_data())
    assert len(entity(zf, "contacts")) == 3
    with in_app(web_app, commit=False):
        events = db.session.execute(sa.select(AuditEvent).where(AuditEvent.tenant_id == acme.id,
                                                                AuditEvent.action.like("export.%"))
                                    .order_by(AuditEvent.id)).scalars().all()
        assert [e.action for e in events] == ["export.requested", "export.completed", "export.downloaded"]
        assert events[0].actor_id == str(person.id) and events[2].actor_id == str(person.id)
        assert events[2].details["ids"] == [export_id]


def test_a_running_export_page_refreshes_itself_and_shows_progress(web_app, acme):
    admin, _ = _client(web_app, acme, "owner")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        # A row as the job leaves it half-way (no job queued, so it stays there).
        made = Export(tenant_id=acme.id, status="running", progress=42, requested_by_type="user",
                      storage_key=f"tenants/{acme.id}/exports/x.zip.enc")
        db.session.add(made)
        db.session.flush()
        export_id = made.id
    page = text(admin.get(f"/t/acme/exports/{export_id}"))
    assert '<meta http-equiv="refresh" content="3">' in page
    assert 'value="42"' in page and "42 %" in page and "Download ZIP" not in page
    assert admin.get(f"/t/acme/exports/{export_id}/download").status_code == 410


def test_members_and_viewers_cannot_export(web_app, acme):
    for role in ("member", "viewer"):
        client, _ = _client(web_app, acme, role)
        assert client.get("/t/acme/exports").status_code == 403
        assert client.post("/t/acme/exports").status_code == 403
    with in_app(web_app, commit=False):
        assert db.session.execute(sa.select(sa.func.count()).select_from(Export)
                                  .execution_options(all_tenants=True)).scalar_one() == 0


@pytest.mark.obligation("DPA-B.access-control")
def test_another_tenants_export_answers_404(web_app, acme):
    other = new_tenant(web_app, "other")
    owner_of_other, _ = _client(web_app, other, "admin")
    admin, _ = _client(web_app, acme, "admin")
    export_id = re.search(r"/exports/([0-9a-f-]{36})$", admin.post("/t/acme/exports").headers["Location"]).group(1)
    assert owner_of_other.get(f"/t/other/exports/{export_id}").status_code == 404
    assert owner_of_other.get(f"/t/other/exports/{export_id}/download").status_code == 404
    assert owner_of_other.get(f"/t/acme/exports/{export_id}").status_code == 404
