"""Proposing a subprocessor: every tenant's owners are told by real e-mail and in the product;
each tenant may object within 5 days of its notice's delivery; staff resolve objections; and
a subprocessor is never engaged for a tenant before its window has closed unopposed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tenantry.dpa.registry import feature_allowed, services
from tenantry.dpa.registry.models import Objection, TenantSubprocessor
from tenantry.platform import cron
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import all_tenants
from tests import factories
from tests.dpa.registry.conftest import Acct, days, new_staff, new_tenant, propose, signed_in

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
EFFECTIVE = datetime(2026, 6, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def smtp_app(make_app, smtp_server):
    app = make_app(**smtp_server.config())
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def _row(app, tenant_id, sub_id) -> TenantSubprocessor:
    with app.app_context(), all_tenants():
        row = db.session.execute(sa.select(TenantSubprocessor).where(
            TenantSubprocessor.tenant_id == tenant_id, TenantSubprocessor.subprocessor_id == sub_id)).scalar_one()
        services.refresh_delivery(row)  # as every page and the sweep do before reading the deadline
        db.session.flush()
        db.session.expunge(row)
        return row


def _object(app, owner: Acct, slug: str, row_id, reason="We do not accept transfers to this provider."):
    client = signed_in(app, owner)
    return client.post(f"/t/{slug}/subprocessors/{row_id}/object", data={f"o{row_id.hex[:8]}-reason": reason})


@pytest.mark.obligation("DPA-4.8", "DPA-8.4")
def test_a_proposal_reaches_every_owner_by_smtp_and_in_app_and_staff_see_delivery(smtp_app, smtp_server,
                                                                                   time_machine):
    time_machine.move_to(T0, tick=False)
    a_id, a_owner = new_tenant(smtp_app, "alpha")
    b_id, b_owner = new_tenant(smtp_app, "beta")
    with smtp_app.app_context():
        from tenantry.platform.tenancy import Tenant

        second = factories.add_member(db.session.get(Tenant, a_id), role="owner")._test_user.email
        factories.add_member(db.session.get(Tenant, b_id), role="member")  # members are not owners
        db.session.commit()
    staff = new_staff(smtp_app)
    client = signed_in(smtp_app, staff)
    form = {"legal_name": "Acme Translate GmbH", "address": "Hauptstrasse 1, Berlin", "contact": "dpo@acme.example",
            "purpose": "Machine translation", "data_categories": "Note text", "processing_location": "Germany",
            "processing_in_eea": "y", "corporate_location": "Germany", "corporate_in_eea": "y",
            "transfer_mechanism": "eea", "feature": "translation", "effective_at": "2026-06-20T09:00",
            "window_days": "5"}
    response = client.post("/admin/subprocessors/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    recipients = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert recipients == sorted([a_owner.email, second, b_owner.email])
    assert all("Acme Translate GmbH" in m.message["Subject"] for m in smtp_server.messages)
    assert "within 5 days" in smtp_server.messages[0].message.get_content()
    with smtp_app.app_context():
        notes = db.session.execute(sa.select(Notification).where(Notification.kind == "subprocessor.proposed")).scalars().all()
        assert len(notes) == 3
        assert all(n.in_app and n.requires_ack and n.delivery_state == "sent" and n.attempts == 1 for n in notes)
        from tenantry.dpa.registry.models import Subprocessor

        sub_id = db.session.execute(sa.select(Subprocessor.id).where(Subprocessor.feature == "translation")).scalar()
    row = _row(smtp_app, a_id, sub_id)
    assert row.delivered_at == T0 and row.objection_deadline == T0 + days(5)
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "alpha" in detail and "beta" in detail and "sent" in detail and "1 attempt" in detail
    # The owner sees it in the workspace's notice centre, waiting for acknowledgement.
    owner_client = signed_in(smtp_app, a_owner)
    assert "need" in owner_client.get("/t/alpha/").get_data(as_text=True)
    page = owner_client.get("/t/alpha/subprocessors").get_data(as_text=True)
    assert "Acme Translate GmbH" in page and "2026-06-06 09:00" in page and "Object to" in page


@pytest.mark.obligation("DPA-4.8")
def test_an_objection_at_day_4_2359_is_accepted_and_one_at_day_5_0001_refused(smtp_app, time_machine):
    time_machine.move_to(T0, tick=False)
    a_id, a_owner = new_tenant(smtp_app, "alpha")
    b_id, b_owner = new_tenant(smtp_app, "beta")
    staff = new_staff(smtp_app)
    sub_id = propose(smtp_app, staff, EFFECTIVE)
    row_a, row_b = _row(smtp_app, a_id, sub_id), _row(smtp_app, b_id, sub_id)
    assert row_a.delivered_at == T0

    time_machine.move_to(T0 + days(4) + days(23 / 24 + 59 / 1440), tick=False)
    assert _object(smtp_app, a_owner, "alpha", row_a.id).status_code == 302

    time_machine.move_to(T0 + days(5) + days(1 / 1440), tick=False)
    response = _object(smtp_app, b_owner, "beta", row_b.id)
    assert response.status_code == 422
    assert "The objection window closed on 2026-06-06 09:00 UTC" in response.get_data(as_text=True)
    with smtp_app.app_context(), all_tenants():
        objections = db.session.execute(sa.select(Objection)).scalars().all()
        assert [o.tenant_id for o in objections] == [a_id]
        assert objections[0].objected_by_user_id == a_owner.id

    # Neither is engaged before the effective date; then only the tenant that did not object.
    with smtp_app.app_context():
        cron.sweep()
        assert not feature_allowed(a_id, "translation") and not feature_allowed(b_id, "translation")
    time_machine.move_to(EFFECTIVE, tick=False)
    with smtp_app.app_context():
        cron.sweep()
        cron.sweep()  # idempotent
        assert not feature_allowed(a_id, "translation")
        assert feature_allowed(b_id, "translation")
    assert _row(smtp_app, a_id, sub_id).status == "objected"
    assert _row(smtp_app, b_id, sub_id).active_since == EFFECTIVE


@pytest.mark.obligation("DPA-4.8")
def test_the_window_starts_only_when_the_notice_is_delivered(smtp_app, smtp_server, time_machine):
    time_machine.move_to(T0, tick=False)
    smtp_server.stop()
    a_id, a_owner = new_tenant(smtp_app, "alpha")
    staff = new_staff(smtp_app)
    sub_id = propose(smtp_app, staff, EFFECTIVE)
    row = _row(smtp_app, a_id, sub_id)
    assert row.delivered_at is None and row.objection_deadline is None
    with smtp_app.app_context():
        note = db.session.execute(sa.select(Notification).where(Notification.kind == "subprocessor.proposed")).scalar_one()
        assert note.delivery_state == "failed" and note.attempts == 1

    # Past the effective date with the mail server still down: engaged globally, not for alpha.
    time_machine.move_to(EFFECTIVE + days(1), tick=False)
    with smtp_app.app_context():
        cron.sweep()
        assert services.get(sub_id).status == "active"
        assert not feature_allowed(a_id, "translation")
    client = signed_in(smtp_app, staff)
    detail = client.get(f"/admin/subprocessors/{sub_id}").get_data(as_text=True)
    assert "failed" in detail and "2 attempts" in detail and "starts at delivery" in detail

    smtp_server.start()
    delivered = EFFECTIVE + days(2)
    time_machine.move_to(delivered, tick=False)
    with smtp_app.app_context():
        cron.sweep()  # the platform's step re-sends; ours starts the window at the send
    row = _row(smtp_app, a_id, sub_id)
    assert row.delivered_at == delivered and row.objection_deadline == delivered + days(5)
    assert smtp_server.messages and smtp_server.messages[0].rcpt_tos == [a_owner.email]

    time_machine.move_to(delivered + days(5) - days(1 / 1440), tick=False)
    with smtp_app.app_context():
        cron.sweep()
        assert not feature_allowed(a_id, "translation")
    time_machine.move_to(delivered + days(5), tick=False)
    with smtp_app.app_context():
        cron.sweep()
        assert feature_allowed(a_id, "translation")


@pytest.mark.obligation("DPA-4.8")
@pytest.mark.parametrize("resolution", ["exempted", "tenant_cancels", "withdrawn"])
def test_staff_resolve_an_objection(smtp_app, time_machine, resolution):
    time_machine.move_to(T0, tick=False)
    a_id, a_owner = new_tenant(smtp_app, "alpha")
    b_id, _b_owner = new_tenant(smtp_app, "beta")
    staff = new_staff(smtp_app)
    dpo = new_staff(smtp_app, "dpo")
    sub_id = propose(smtp_app, staff, EFFECTIVE)
    row_a = _row(smtp_app, a_id, sub_id)
    time_machine.move_to(T0 + days(1), tick=False)
    assert _object(smtp_app, a_owner, "alpha", row_a.id).status_code == 302
    with smtp_app.app_context(), all_tenants():
        objection_id = db.session.execute(sa.select(Objection.id)).scalar_one()
    url = f"/admin/subprocessors/{sub_id}/objections/{objection_id}"
    data = {f"r{objection_id.hex[:8]}-resolution": resolution, f"r{objection_id.hex[:8]}-note": "Agreed by phone."}
    dpo_client = signed_in(smtp_app, dpo)
    assert "Objections" in dpo_client.get(f"/admin/subprocessors/{sub_id}").get_data(as_text=True)
    assert dpo_client.post(url, data=data).status_code == 403  # only platform admins decide
    client = signed_in(smtp_app, staff)
    assert "We do not accept transfers" in client.get(f"/admin/subprocessors/{sub_id}").get_data(as_text=True)
    assert client.post(url, data=data).status_code == 302
    assert client.post(url, data=data).status_code == 422  # once only

    time_machine.move_to(EFFECTIVE, tick=False)
    with smtp_app.app_context():
        cron.sweep()
        expected_a = {"exempted": "exempted", "tenant_cancels": "cancelling", "withdrawn": "withdrawn"}[resolution]
        assert _row(smtp_app, a_id, sub_id).status == expected_a
        assert not feature_allowed(a_id, "translation")
        assert feature_allowed(b_id, "translation") is (resolution != "withdrawn")
        assert services.get(sub_id).status == ("retired" if resolution == "withdrawn" else "active")
        with all_tenants():
            objection = db.session.get(Objection, objection_id)
            assert objection.resolution == resolution and objection.resolved_by_staff_id == staff.id
    page = signed_in(smtp_app, a_owner).get("/t/alpha/subprocessors").get_data(as_text=True)
    assert "Agreed by phone." in page


@pytest.mark.obligation("DPA-4.8")
def test_the_tenant_page_shows_which_subprocessors_touch_its_data(smtp_app, time_machine):
    time_machine.move_to(T0, tick=False)
    a_id, a_owner = new_tenant(smtp_app, "alpha")
    staff = new_staff(smtp_app)
    propose(smtp_app, staff, EFFECTIVE)
    page = signed_in(smtp_app, a_owner).get("/t/alpha/subprocessors").get_data(as_text=True)
    assert page.count("processes your data") == 3  # the seeded three
    assert "proposed: not engaged yet" in page
    with smtp_app.app_context():
        assert feature_allowed(a_id, "hosting") and feature_allowed(a_id, "ai-assistant")
        assert feature_allowed(a_id, "no-subprocessor-needed")
        assert not feature_allowed(a_id, "translation")


@pytest.mark.obligation("DPA-4.8")
def test_a_viewer_or_member_cannot_object_and_reasons_are_required(smtp_app, time_machine):
    time_machine.move_to(T0, tick=False)
    a_id, a_owner = new_tenant(smtp_app, "alpha")
    with smtp_app.app_context():
        from tenantry.platform.tenancy import Tenant

        member = factories.add_member(db.session.get(Tenant, a_id), role="member")._test_user
        db.session.commit()
        member = Acct(member.id, member.email)
    sub_id = propose(smtp_app, new_staff(smtp_app), EFFECTIVE)
    row = _row(smtp_app, a_id, sub_id)
    assert _object(smtp_app, member, "alpha", row.id).status_code == 403
    response = _object(smtp_app, a_owner, "alpha", row.id, reason="   ")
    assert response.status_code == 422 and "Give the reason" in response.get_data(as_text=True)
    assert _row(smtp_app, a_id, sub_id).status == "notified"


@pytest.mark.obligation("DPA-6.1")
def test_a_subprocessor_outside_the_eea_needs_a_transfer_mechanism(smtp_app, time_machine):
    time_machine.move_to(T0, tick=False)
    staff = new_staff(smtp_app)
    client = signed_in(smtp_app, staff)
    form = {"legal_name": "Faraway Inc.", "address": "1 Main St, Austin, TX, USA", "contact": "legal@faraway.example",
            "purpose": "Analytics", "data_categories": "Usage data", "processing_location": "USA",
            "corporate_location": "USA", "transfer_mechanism": "eea", "feature": "analytics",
            "effective_at": "2026-06-20T09:00", "window_days": "5"}
    response = client.post("/admin/subprocessors/new", data=form)
    assert response.status_code == 422
    assert "Outside the EEA a transfer needs a mechanism" in response.get_data(as_text=True)
    response = client.post("/admin/subprocessors/new", data={**form, "effective_at": "2026-06-03T09:00",
                                                              "transfer_mechanism": "sccs"})
    assert response.status_code == 422 and "objection window" in response.get_data(as_text=True)
    with smtp_app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM subprocessors")).scalar() == 3
    assert client.post("/admin/subprocessors/new", data={**form, "transfer_mechanism": "sccs"}).status_code == 302
    # A non-admin staff role cannot propose.
    dpo_client = signed_in(smtp_app, new_staff(smtp_app, "dpo"))
    assert dpo_client.post("/admin/subprocessors/new", data={**form, "transfer_mechanism": "sccs"}).status_code == 403


def test_the_staff_pages_render_for_every_staff_role_and_stay_closed_to_tenant_users(smtp_app, time_machine):
    time_machine.move_to(T0, tick=False)
    _a, a_owner = new_tenant(smtp_app, "alpha")
    sub_id = propose(smtp_app, new_staff(smtp_app), EFFECTIVE)
    for role in ("platform-admin", "dpo", "support"):
        client = signed_in(smtp_app, new_staff(smtp_app, role))
        listing = client.get("/admin/subprocessors")
        assert listing.status_code == 200 and "Acme Translate GmbH" in listing.get_data(as_text=True)
        assert client.get(f"/admin/subprocessors/{sub_id}").status_code == 200
        assert client.get("/admin/agreement").status_code == 200
        assert client.get("/admin/subprocessors/new").status_code == (200 if role == "platform-admin" else 403)
        time_machine.shift(31)  # a fresh TOTP step for the next sign-in
    tenant_user = signed_in(smtp_app, a_owner)
    assert tenant_user.get("/admin/subprocessors").status_code == 404
    assert tenant_user.get(f"/admin/subprocessors/{sub_id}").status_code == 404


@pytest.mark.obligation("DPA-4.8")
def test_a_tenant_created_during_a_proposal_is_told_by_the_sweep_once(smtp_app, smtp_server, time_machine):
    time_machine.move_to(T0, tick=False)
    sub_id = propose(smtp_app, new_staff(smtp_app), EFFECTIVE)
    time_machine.move_to(T0 + days(3), tick=False)
    late_id, late_owner = new_tenant(smtp_app, "late")
    with smtp_app.app_context():
        assert not feature_allowed(late_id, "translation")
        assert cron.sweep()["subprocessors.announce"] == 1
        assert cron.sweep()["subprocessors.announce"] == 0
    assert [m.rcpt_tos for m in smtp_server.messages] == [[late_owner.email]]
    row = _row(smtp_app, late_id, sub_id)
    assert row.objection_deadline == T0 + days(8)
    time_machine.move_to(EFFECTIVE, tick=False)  # its own window closed on day 8; engaged on the date
    with smtp_app.app_context():
        cron.sweep()
        assert feature_allowed(late_id, "translation")
