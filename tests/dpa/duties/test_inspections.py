"""Supervisory authority inspections [DPA-4.3.3]: the affected tenants are told at once, by
e-mail (delivered to a real SMTP server) and in the product with an acknowledgement; updates and
the result follow the same way; staff see each notice's delivery, and failed sends are retried."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tenantry.dpa.duties.models import Inspection, InspectionEvent, InspectionTenant
from tenantry.platform import cron
from tenantry.platform.notify import Notification
from tests.dpa.duties.support import new_staff, notices, rows
from tests.identity.support import NO_LIMIT, in_app, new_tenant, sign_in, text


@pytest.fixture
def smtp_app(make_app, smtp_server):
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT, **smtp_server.config())


def _subjects(smtp_server, address):
    return [str(m.message["Subject"]) for m in smtp_server.messages if address in m.rcpt_tos]


@pytest.mark.obligation("DPA-4.3.3")
def test_affected_tenants_are_told_at_once_and_of_updates_and_the_result(smtp_app, smtp_server, frozen):
    acme, globex, initech = (new_tenant(smtp_app, s) for s in ("acme", "globex", "initech"))
    dpo = smtp_app.test_client()
    sign_in(dpo, new_staff(smtp_app, "dpo"))

    response = dpo.post("/admin/inspections", data={
        "authority": "Úřad pro ochranu osobních údajů", "scope": "Security of processing (art. 32)",
        "affects": "chosen", "tenants": [str(acme.id), str(globex.id)]})
    assert response.status_code == 302
    [inspection] = rows(smtp_app, Inspection)
    assert sorted(r["tenant_id"] for r in rows(smtp_app, InspectionTenant)) == sorted([acme.id, globex.id])

    # Told at once: the e-mail reached the SMTP server within the request, and the in-app notice waits.
    for tenant in (acme, globex):
        assert _subjects(smtp_server, tenant.owner.email) == [f"Supervisory authority inspection {inspection['ref']}"]
    assert _subjects(smtp_server, initech.owner.email) == []
    opened = notices(smtp_app, "inspection.opened")
    assert {n["user_id"] for n in opened} == {acme.owner.id, globex.owner.id}
    assert all(n["in_app"] and n["requires_ack"] and n["delivery_state"] == "sent" and n["attempts"] == 1
               for n in opened)

    owner = smtp_app.test_client()
    sign_in(owner, acme.owner)
    page = text(owner.get(f"/t/acme/inspections/{inspection['id']}"))
    assert "Security of processing (art. 32)" in page
    acme_note = next(n for n in opened if n["user_id"] == acme.owner.id)
    assert owner.post(f"/t/acme/notices/{acme_note['id']}/acknowledge").status_code == 302

    frozen.shift(60)
    assert dpo.post(f"/admin/inspections/{inspection['id']}",
                    data={"kind": "update", "body": "The authority asked for our access logs."}).status_code == 302
    frozen.shift(60)
    assert dpo.post(f"/admin/inspections/{inspection['id']}",
                    data={"kind": "result", "body": "No breach of the GDPR found."}).status_code == 302
    assert _subjects(smtp_server, acme.owner.email) == [
        f"Supervisory authority inspection {inspection['ref']}",
        f"Inspection {inspection['ref']}: an update",
        f"Inspection {inspection['ref']}: the result",
    ]
    result_mail = [m.message for m in smtp_server.messages
                   if globex.owner.email in m.rcpt_tos and "the result" in str(m.message["Subject"])][0]
    assert "No breach of the GDPR found." in result_mail.get_content()
    assert [e["kind"] for e in rows(smtp_app, InspectionEvent, order_by=InspectionEvent.created_at)] == [
        "opened", "update", "result"]

    # One timeline on both sides.
    page = text(owner.get(f"/t/acme/inspections/{inspection['id']}")).split("Timeline", 1)[1]
    assert page.index("opened an inspection") < page.index("access logs") < page.index("No breach of the GDPR found.")
    staff_page = text(dpo.get(f"/admin/inspections/{inspection['id']}"))
    assert "No breach of the GDPR found." in staff_page and "acknowledged" in staff_page
    assert "awaiting acknowledgement" in staff_page  # globex has not acknowledged yet

    # A tenant the inspection does not concern sees nothing of it.
    other = smtp_app.test_client()
    sign_in(other, initech.owner)
    assert "No inspections concern this workspace." in text(other.get("/t/initech/inspections"))
    assert other.get(f"/t/initech/inspections/{inspection['id']}").status_code == 404


@pytest.mark.obligation("DPA-4.3.3")
def test_all_tenants_and_a_failed_send_is_visible_and_retried(smtp_app, smtp_server, frozen):
    acme, globex = new_tenant(smtp_app, "acme"), new_tenant(smtp_app, "globex")
    dpo = smtp_app.test_client()
    sign_in(dpo, new_staff(smtp_app, "dpo"))
    smtp_server.stop()
    assert dpo.post("/admin/inspections", data={"authority": "CNIL", "scope": "Transfers", "affects": "all"}
                    ).status_code == 302
    [inspection] = rows(smtp_app, Inspection)
    assert inspection["affects_all"]
    opened = notices(smtp_app, "inspection.opened")
    assert {n["user_id"] for n in opened} == {acme.owner.id, globex.owner.id}
    # The rows exist although no e-mail could go; staff see the failure and the attempts.
    assert all(n["delivery_state"] == "failed" and n["attempts"] == 1 for n in opened)
    page = text(dpo.get(f"/admin/inspections/{inspection['id']}"))
    assert "failed" in page and "Failed e-mails are sent again by the sweep." in page

    smtp_server.start()
    frozen.shift(timedelta(minutes=2))
    with in_app(smtp_app):
        cron.sweep()
    with in_app(smtp_app, commit=False):
        from tenantry.platform import jobs

        jobs.drain()
    after = notices(smtp_app, "inspection.opened")
    assert all(n["delivery_state"] == "sent" and n["attempts"] == 2 for n in after), after
    assert _subjects(smtp_server, acme.owner.email) == [f"Supervisory authority inspection {inspection['ref']}"]


def test_recording_needs_tenants_and_only_the_dpo_records(smtp_app, frozen):
    new_tenant(smtp_app, "acme")
    dpo = smtp_app.test_client()
    sign_in(dpo, new_staff(smtp_app, "dpo"))
    response = dpo.post("/admin/inspections", data={"authority": "", "scope": "x", "affects": "chosen"})
    assert response.status_code == 422
    page = text(response)
    assert "Enter the authority." in page and "Choose at least one tenant, or all tenants." in page
    assert rows(smtp_app, Inspection) == [] and rows(smtp_app, Notification) == []
    admin = smtp_app.test_client()
    sign_in(admin, new_staff(smtp_app, "platform-admin"))
    # Platform admins see the inspections [issue 8] but do not record them.
    seen = admin.get("/admin/inspections")
    assert seen.status_code == 200 and "Record an inspection" not in text(seen)
    refused = admin.post("/admin/inspections", data={"authority": "ÚOOÚ", "scope": "x", "affects": "all"})
    assert refused.status_code == 403 and rows(smtp_app, Inspection) == []
