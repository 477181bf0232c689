"""Cancellation by an owner or by staff, read-only mode, reminders and reactivation
[DPA-4.9, DPA-4.10, TEK-termination]."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants
from tenantry.tenants.lifecycle import cancellation
from tenantry.tenants.lifecycle.cancel_models import Cancellation, CancellationReminder
from tests.identity.support import (
    T0,
    audit_events,
    field_errors,
    flask_cli,
    in_app,
    location,
    new_member,
    sign_in,
    text,
)
from tests.tenants.lifecycle.lifecycle_support import (
    add_contact,
    contact_count,
    fresh_code,
    owned_tenant,
    sweep,
    tenant_row,
)

pytestmark = pytest.mark.usefixtures("frozen")


def _cancel(web, frozen, tenant, **overrides):
    data = {"password": overrides.pop("password", "velvet-orchard-quantum-41"),
            "code": overrides.pop("code", None) or fresh_code(frozen, tenant.owner.secret), "confirm": "y"}
    data.update(overrides)
    return web.post(f"/t/{tenant.slug}/settings/cancel", data=data)


@pytest.mark.obligation("DPA-4.10", "TEK-termination")
def test_owner_cancels_with_password_and_code_and_the_workspace_turns_read_only(web_app, web, frozen, outbox):
    tenant = owned_tenant(web_app, "acme")
    other = owned_tenant(web_app, "bystander")
    add_contact(web_app, tenant)
    sign_in(web, tenant.owner)

    page = web.get("/t/acme/settings/cancel")
    assert page.status_code == 200
    assert "read-only at once" in text(page)
    assert (T0 + timedelta(days=80)).strftime("%Y-%m-%d") in text(page)

    wrong = _cancel(web, frozen, tenant, password="not-the-password", code="000000")
    assert wrong.status_code == 422
    html = text(wrong)
    assert field_errors(html, "password") == ["Your password is not right."]
    assert field_errors(html, "code")
    assert tenant_row(web_app, tenant.id)["status"] == "active"
    assert [e["outcome"] for e in audit_events(web_app, "tenant.cancel")] == ["failure"]

    unticked = _cancel(web, frozen, tenant, confirm="")
    assert unticked.status_code == 422
    assert tenant_row(web_app, tenant.id)["status"] == "active"

    done = _cancel(web, frozen, tenant)
    assert done.status_code == 302
    row = tenant_row(web_app, tenant.id)
    assert row["status"] == "cancelled"
    assert row["deletion_due_at"] - row["cancelled_at"] == timedelta(days=80)
    assert tenant_row(web_app, other.id)["status"] == "active"
    [event] = audit_events(web_app, "tenant.cancelled")
    assert event["actor_id"] == str(tenant.owner.id) and event["tenant_id"] == tenant.id
    mails = outbox.to(tenant.owner.email)
    assert any("is cancelled" in m["Subject"] for m in mails)

    # Every page shows the deletion date and the countdown.
    dashboard = text(web.get("/t/acme/"))
    assert row["deletion_due_at"].strftime("%Y-%m-%d") in dashboard and "80 days left" in dashboard

    # Writes are refused with a clear page; reads go on.
    refused = web.post("/t/acme/crm/contacts/new", data={"last_name": "Svoboda"})
    assert refused.status_code == 423
    assert "read-only" in text(refused)
    as_json = web.post("/t/acme/crm/contacts/new", data={"last_name": "Svoboda"},
                       headers={"Accept": "application/json"})
    assert as_json.status_code == 423 and as_json.get_json()["error"]["code"] == "read_only"
    assert contact_count(web_app, tenant.id) == 1
    assert web.get("/t/acme/crm/contacts").status_code == 200


@pytest.mark.obligation("DPA-4.10")
def test_a_member_cannot_cancel_and_a_cancelled_workspace_refuses_member_writes(web_app, web, frozen):
    tenant = owned_tenant(web_app, "acme")
    admin = new_member(web_app, tenant, "admin", with_totp=True)
    sign_in(web, admin)
    assert web.get("/t/acme/settings/cancel").status_code == 403
    assert web.post("/t/acme/settings/cancel", data={"password": "x", "code": "1", "confirm": "y"}).status_code == 403
    assert tenant_row(web_app, tenant.id)["status"] == "active"
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, tenant.id), channel="staff", reference="T-1")
    assert web.post("/t/acme/members/invite", data={"email": "new@example.com", "role": "member"}).status_code == 423
    banner = text(web.get("/t/acme/"))
    assert "read-only" in banner and "80 days left" in banner


@pytest.mark.obligation("DPA-4.10", "TEK-termination")
def test_staff_cancel_from_the_cli_on_written_request(web_app, frozen, outbox):
    tenant = owned_tenant(web_app, "acme")
    result = flask_cli(web_app, "tenantry", "tenants", "cancel", "acme", "--reference", "letter 2026-17")
    assert result.exit_code == 0, result.output
    assert "deletion due" in result.output
    row = tenant_row(web_app, tenant.id)
    assert row["status"] == "cancelled" and row["deletion_due_at"] == T0 + timedelta(days=80)
    [event] = audit_events(web_app, "tenant.cancelled")
    assert event["details"]["channel"] == "staff" and event["details"]["reference"] == "letter 2026-17"
    assert len(outbox.to(tenant.owner.email)) == 1
    again = flask_cli(web_app, "tenantry", "tenants", "cancel", "acme", "--reference", "x")
    assert again.exit_code != 0 and "already cancelled" in again.output
    missing = flask_cli(web_app, "tenantry", "tenants", "cancel", "nope", "--reference", "x")
    assert missing.exit_code != 0


@pytest.mark.obligation("DPA-4.10")
def test_reminders_at_30_7_and_1_days_are_sent_once_each(web_app, frozen, outbox):
    tenant = owned_tenant(web_app, "acme")
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, tenant.id), channel="staff", reference="T-1")
    due = T0 + timedelta(days=80)
    assert len(outbox.to(tenant.owner.email)) == 1  # at cancellation

    def reminders():
        return sorted(m["Subject"] for m in outbox.to(tenant.owner.email) if "will be deleted in" in m["Subject"])

    sweep(web_app, due - timedelta(days=30, minutes=1))
    assert reminders() == []
    for point, expected in ((30, ["Acme will be deleted in 30 days"]),
                            (7, ["Acme will be deleted in 30 days", "Acme will be deleted in 7 days"])):
        frozen.move_to(due - timedelta(days=point), tick=False)
        sweep(web_app, due - timedelta(days=point))
        sweep(web_app, due - timedelta(days=point) + timedelta(hours=1))
        assert reminders() == expected
    frozen.move_to(due - timedelta(days=1), tick=False)
    sweep(web_app, due - timedelta(days=1))
    sweep(web_app, due - timedelta(hours=2))
    assert reminders() == ["Acme will be deleted in 1 day", "Acme will be deleted in 30 days",
                           "Acme will be deleted in 7 days"]
    with in_app(web_app, commit=False), all_tenants():
        markers = db.session.execute(sa.select(CancellationReminder.days_before)).scalars().all()
    assert sorted(markers) == [0, 1, 7, 30]


@pytest.mark.obligation("DPA-4.10")
def test_a_late_cancellation_gets_only_the_nearest_reminder(web_app, frozen, outbox):
    tenant = owned_tenant(web_app, "acme")
    with in_app(web_app):
        t = db.session.get(Tenant, tenant.id)
        cancellation.cancel(t, channel="staff", deletion_due_at=T0 + timedelta(days=5))
    sweep(web_app, T0 + timedelta(hours=1))
    subjects = sorted(m["Subject"] for m in outbox.to(tenant.owner.email))
    assert subjects == ["Acme is cancelled: everything will be deleted on " + (T0 + timedelta(days=5)).strftime("%Y-%m-%d"),
                        "Acme will be deleted in 7 days"]


@pytest.mark.obligation("DPA-4.10", "DPA-4.9")
def test_reactivation_on_day_79_keeps_everything(web_app, web, frozen, outbox):
    tenant = owned_tenant(web_app, "acme")
    contact_id = add_contact(web_app, tenant)
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, tenant.id), channel="staff", reference="T-1")
    day79 = T0 + timedelta(days=79)
    frozen.move_to(day79, tick=False)
    sweep(web_app, day79)
    assert contact_count(web_app, tenant.id) == 1

    sign_in(web, tenant.owner)
    page = web.get("/t/acme/settings/cancel")
    assert "Reactivate the workspace" in text(page) and "(1 day left)" in text(page)
    bad = web.post("/t/acme/settings/cancel/reactivate",
                   data={"reactivate-password": "velvet-orchard-quantum-41", "reactivate-code": "000000"})
    assert bad.status_code == 422
    assert tenant_row(web_app, tenant.id)["status"] == "cancelled"
    ok = web.post("/t/acme/settings/cancel/reactivate",
                  data={"reactivate-password": "velvet-orchard-quantum-41",
                        "reactivate-code": fresh_code(frozen, tenant.owner.secret)})
    assert ok.status_code == 302 and location(ok).endswith("/settings/cancel")
    row = tenant_row(web_app, tenant.id)
    assert row["status"] == "active" and row["deletion_due_at"] is None
    assert [e["actor_id"] for e in audit_events(web_app, "tenant.reactivated")] == [str(tenant.owner.id)]
    assert any("active again" in m["Subject"] for m in outbox.to(tenant.owner.email))

    # Day 80 passes and nothing is deleted; the workspace takes writes again.
    sweep(web_app, T0 + timedelta(days=81))
    assert contact_count(web_app, tenant.id) == 1
    assert tenant_row(web_app, tenant.id)["status"] == "active"
    with in_app(web_app, commit=False), all_tenants():
        row = db.session.execute(sa.select(Cancellation)).scalar_one()
        assert row.reactivated_at is not None
    assert web.get(f"/t/acme/crm/contacts/{contact_id}").status_code == 200
    assert "read-only" not in text(web.get("/t/acme/"))


@pytest.mark.obligation("DPA-4.10")
def test_an_owner_asks_for_backed_up_data_within_the_80_days(web_app, web, frozen, outbox):
    tenant = owned_tenant(web_app, "acme")
    sign_in(web, tenant.owner)
    assert web.post("/t/acme/settings/cancel/backup-request", data={"backup-note": "x"}).status_code == 302
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, tenant.id), channel="staff", reference="T-1")
    empty = web.post("/t/acme/settings/cancel/backup-request", data={"backup-note": ""})
    assert empty.status_code == 422
    assert field_errors(text(empty), "backup-note")
    ok = web.post("/t/acme/settings/cancel/backup-request", data={"backup-note": "Contacts as of 1 May"})
    assert ok.status_code == 302
    assert "open" in text(web.get("/t/acme/settings/cancel"))
    assert len(audit_events(web_app, "tenant.backup-data-requested")) == 1
    assert any("Backup data requested" in m["Subject"] for m in outbox.messages())
