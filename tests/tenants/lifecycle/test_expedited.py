"""Expedited deletion on the customer's written request [TEK-withdraw]: scheduled at most 5
working days ahead (weekends and the tenant's public holidays do not count), carried out by
the sweep, and the owners told when it is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenantry.platform import business_days
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tenantry.tenants.lifecycle import deletion_requests
from tests.identity.support import audit_events, field_errors, flask_cli, in_app, sign_in, text
from tests.tenants.lifecycle.lifecycle_support import (
    add_contact,
    contact_count,
    fresh_code,
    owned_tenant,
    sweep,
    tenant_row,
)

# Thursday 23 December 2027: the 24th, 25th and 26th are Czech public holidays and the 25th
# and 26th a weekend, so five working days end on Friday 31 December.
REQUESTED = datetime(2027, 12, 23, 10, 0, tzinfo=UTC)
FIVE_WORKING_DAYS_LATER = datetime(2027, 12, 31, 10, 0, tzinfo=UTC)


@pytest.mark.obligation("TEK-withdraw")
def test_an_owner_asks_in_writing_and_everything_is_gone_within_5_working_days(web_app, web, frozen, outbox):
    frozen.move_to(REQUESTED, tick=False)
    tenant = owned_tenant(web_app, "acme")
    add_contact(web_app, tenant)
    sign_in(web, tenant.owner)
    page = web.get("/t/acme/settings/deletion")
    assert page.status_code == 200 and "within 5 working days" in text(page)

    bad = web.post("/t/acme/settings/deletion", data={"password": "velvet-orchard-quantum-41",
                                                      "code": fresh_code(frozen, tenant.owner.secret)})
    assert bad.status_code == 422 and field_errors(text(bad), "confirm")
    assert tenant_row(web_app, tenant.id)["status"] == "active"

    ok = web.post("/t/acme/settings/deletion", data={"password": "velvet-orchard-quantum-41", "confirm": "y",
                                                     "code": fresh_code(frozen, tenant.owner.secret)})
    assert ok.status_code == 302
    row = tenant_row(web_app, tenant.id)
    assert row["status"] == "cancelled"
    assert row["deletion_due_at"] == business_days.add_business_days(row["cancelled_at"], 5, "CZ")
    assert row["deletion_due_at"].date() == FIVE_WORKING_DAYS_LATER.date()
    assert "2027-12-31" in text(web.get("/t/acme/settings/deletion"))
    assert len(audit_events(web_app, "tenant.deletion-requested")) == 1
    assert any("will be deleted on 2027-12-31" in m["Subject"] for m in outbox.to(tenant.owner.email))
    # A written deletion request is not undone by reactivating from the page.
    refused = web.post("/t/acme/settings/cancel/reactivate", data={
        "reactivate-password": "velvet-orchard-quantum-41",
        "reactivate-code": fresh_code(frozen, tenant.owner.secret)})
    assert refused.status_code == 422 and "contact support" in text(refused)

    before = row["deletion_due_at"] - timedelta(minutes=1)
    frozen.move_to(before, tick=False)
    assert sweep(web_app, before)["lifecycle-purge"] == 0
    assert contact_count(web_app, tenant.id) == 1
    frozen.move_to(row["deletion_due_at"], tick=False)
    assert sweep(web_app, row["deletion_due_at"])["lifecycle-purge"] == 1
    assert contact_count(web_app, tenant.id) == 0
    assert tenant_row(web_app, tenant.id)["status"] == "deleted"
    [cert] = [m for m in outbox.to(tenant.owner.email) if "Certificate of deletion" in m["Subject"]]
    assert "expedited on the customer's written request" in cert.get_content()


@pytest.mark.obligation("TEK-withdraw")
def test_staff_file_the_request_for_a_cancelled_tenant_and_it_comes_forward(web_app, frozen, outbox):
    frozen.move_to(REQUESTED, tick=False)
    tenant = owned_tenant(web_app, "acme")
    assert flask_cli(web_app, "tenantry", "tenants", "cancel", "acme", "--reference", "L-1").exit_code == 0
    assert tenant_row(web_app, tenant.id)["deletion_due_at"] == REQUESTED + timedelta(days=80)
    result = flask_cli(web_app, "tenantry", "tenants", "expedite", "acme", "--reference", "letter of 22 Dec")
    assert result.exit_code == 0, result.output
    assert "2027-12-31" in result.output
    assert tenant_row(web_app, tenant.id)["deletion_due_at"] == FIVE_WORKING_DAYS_LATER
    [event] = audit_events(web_app, "tenant.deletion-requested")
    assert event["details"]["filed_by_staff"] is True and event["details"]["reference"] == "letter of 22 Dec"
    assert any("our staff on your behalf" in m.get_content() for m in outbox.to(tenant.owner.email))
    again = flask_cli(web_app, "tenantry", "tenants", "expedite", "acme", "--reference", "x")
    assert again.exit_code != 0 and "already been requested" in again.output
    with in_app(web_app):
        assert deletion_requests.pending(db.session.get(Tenant, tenant.id)).scheduled_for == FIVE_WORKING_DAYS_LATER
