"""Audits [DPA-4.3.5]: one calendar month's notice, a 5-day window to object to the auditor for
lack of independence or competition, another auditor after an objection; documents shared
for an audit are confidential and marked so [DPA-4.6]."""

from __future__ import annotations

import html as html_lib
from datetime import UTC, datetime, timedelta

import pytest

from tenantry.dpa.duties import audits
from tenantry.dpa.duties.models import Audit, AuditDocument, AuditorNomination
from tenantry.platform import storage
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffUser
from tenantry.platform.tenancy import Tenant, tenant_context
from tests import factories
from tests.dpa.duties.support import new_staff, notices, rows
from tests.identity.support import field_errors as _field_errors
from tests.identity.support import in_app, new_tenant, sign_in, text


def field_errors(page: str, field_id: str) -> list[str]:
    return [html_lib.unescape(e) for e in _field_errors(page, field_id)]


AUDITOR = {"auditor_name": "Jana Nováková", "auditor_organisation": "Audit & Co s.r.o.",
           "independence_statement": "No ties to either party; not a CRM vendor."}


def _request(web, slug: str, proposed: str, **overrides):
    data = {"scope": "Access controls and backups", "proposed_date": proposed, **AUDITOR, **overrides}
    return web.post(f"/t/{slug}/audits/new", data=data)


@pytest.mark.obligation("DPA-4.3.5")
def test_an_audit_needs_one_calendar_month_of_notice(web_app, web, time_machine, outbox):
    time_machine.move_to(datetime(2026, 1, 31, 9, 0, tzinfo=UTC), tick=False)
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    # 31 January + one month is 28 February 2026 (no 31 February): the day before is refused.
    early = _request(web, "acme", "2026-02-27")
    assert early.status_code == 422
    assert field_errors(text(early), "proposed_date") == [
        "An audit needs at least one month's notice: choose 2026-02-28 or later."]
    assert rows(web_app, Audit) == [] and rows(web_app, AuditorNomination) == []
    assert _request(web, "acme", "2026-02-28").status_code == 302
    [audit] = rows(web_app, Audit)
    assert audit["proposed_date"].isoformat() == "2026-02-28" and audit["status"] == "awaiting-decision"
    # The processor hears of it at once.
    [mail] = [m for m in outbox.messages() if "Audit requested" in str(m["Subject"])]
    assert "dpo@tenantry.localhost" in str(mail["To"])


def test_missing_fields_are_refused_next_to_them(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    response = _request(web, "acme", "", auditor_name="", independence_statement="")
    assert response.status_code == 422
    html = text(response)
    assert field_errors(html, "auditor_name") == ["Enter the auditor's name."]
    assert field_errors(html, "independence_statement") == ["Enter the auditor's independence statement."]
    assert field_errors(html, "proposed_date")
    assert rows(web_app, Audit) == []


def test_only_an_owner_requests_an_audit(web_app, web, frozen):
    from tests.identity.support import new_member

    acme = new_tenant(web_app, "acme")
    admin = new_member(web_app, acme, "admin")
    sign_in(web, admin)
    assert _request(web, "acme", "2026-08-01").status_code == 403
    assert web.get("/t/acme/audits").status_code == 200


@pytest.mark.obligation("DPA-4.3.5")
def test_staff_object_with_a_reason_and_the_tenant_names_another_auditor(web_app, web, frozen, outbox):
    acme = new_tenant(web_app, "acme")
    admin = new_staff(web_app, "platform-admin")
    sign_in(web, acme.owner)
    assert _request(web, "acme", "2026-07-15").status_code == 302
    [audit] = rows(web_app, Audit)

    staff = web_app.test_client()
    sign_in(staff, admin)
    page = staff.get(f"/admin/audits/{audit['id']}")
    assert page.status_code == 200 and "Jana Nováková" in text(page)
    # An objection needs a reason.
    bad = staff.post(f"/admin/audits/{audit['id']}", data={"decision-decision": "object", "decision-reason": ""})
    assert bad.status_code == 422
    assert field_errors(text(bad), "decision-reason") == ["An objection needs a reason: not independent, or a competitor."]
    ok = staff.post(f"/admin/audits/{audit['id']}", data={
        "decision-decision": "object", "decision-reason": "competitor", "decision-note": "They sell a CRM."})
    assert ok.status_code == 302
    [first] = rows(web_app, AuditorNomination)
    assert first["decision"] == "objected" and first["objection_reason"] == "competitor"
    assert rows(web_app, Audit)[0]["status"] == "auditor-objected"
    # The owner is told by e-mail and in the product, with an acknowledgement asked for.
    [note] = notices(web_app, "audit.objected")
    assert note["in_app"] and note["requires_ack"] and note["delivery_state"] == "sent"
    assert any("please name another auditor" in str(m["Subject"]) for m in outbox.to(acme.owner.email))

    page = text(web.get(f"/t/acme/audits/{audit['id']}"))
    assert "auditor objected" in page and "The auditor is a competitor of the processor" in page
    named = web.post(f"/t/acme/audits/{audit['id']}", data={
        "auditor_name": "Petr Svoboda", "auditor_organisation": "Independent Audits a.s.",
        "independence_statement": "Independent certified auditor."})
    assert named.status_code == 302
    second = rows(web_app, AuditorNomination, AuditorNomination.auditor_name == "Petr Svoboda")[0]
    assert second["decision"] == "pending"
    assert second["objection_window_ends_at"] == datetime(2026, 6, 6, 9, 0, tzinfo=UTC)
    # Accepting him ends the choice.
    accepted = staff.post(f"/admin/audits/{audit['id']}", data={"decision-decision": "accept"})
    assert accepted.status_code == 302, text(accepted)[-3000:]
    assert rows(web_app, Audit)[0]["status"] == "accepted"
    # No third auditor can be named once one is accepted.
    again = web.post(f"/t/acme/audits/{audit['id']}", data={**AUDITOR})
    assert again.status_code == 422
    assert len(rows(web_app, AuditorNomination)) == 2


@pytest.mark.obligation("DPA-4.3.5")
@pytest.mark.parametrize(("after", "accepted"), [
    (timedelta(days=4, hours=23, minutes=59), True),
    (timedelta(days=5, minutes=1), False),
])
def test_the_five_day_objection_window(app_ctx, time_machine, after, accepted):
    # Nominated at the start of day 0: day 4 23:59 is inside the window, day 5 00:01 is not.
    start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    tenant = factories.make_tenant("acme")
    staff = factories.make_staff("platform-admin")
    with tenant_context(tenant):
        audit = audits.request_audit(tenant, tenant._test_owner, scope="All", proposed_date=start.date() + timedelta(days=40),
                                     **AUDITOR)
    db.session.commit()
    time_machine.move_to(start + after, tick=False)
    with tenant_context(tenant):
        if accepted:
            audits.object_to_auditor(audit, staff, reason="not-independent", note="")
            assert audit.status == "auditor-objected"
        else:
            with pytest.raises(audits.AuditError, match="5-day window"):
                audits.object_to_auditor(audit, staff, reason="not-independent", note="")
            assert audit.status == "awaiting-decision"


def test_a_dpo_sees_audits_but_only_a_platform_admin_decides(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    _request(web, "acme", "2026-07-15")
    [audit] = rows(web_app, Audit)
    dpo = web_app.test_client()
    sign_in(dpo, new_staff(web_app, "dpo"))
    assert dpo.get(f"/admin/audits/{audit['id']}").status_code == 200
    assert dpo.post(f"/admin/audits/{audit['id']}", data={"decision-decision": "accept"}).status_code == 403
    support = web_app.test_client()
    sign_in(support, new_staff(web_app, "support"))
    assert support.get("/admin/audits").status_code == 403


@pytest.mark.obligation("DPA-4.6")
def test_documents_shared_for_an_audit_are_sealed_and_marked_confidential(web_app, web, frozen):
    import io

    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    _request(web, "acme", "2026-07-15")
    [audit] = rows(web_app, Audit)
    staff = web_app.test_client()
    sign_in(staff, new_staff(web_app, "platform-admin"))
    url = f"/admin/audits/{audit['id']}"

    # Type and size checks, with the reason next to the field.
    exe = staff.post(url, data={"upload-file": (io.BytesIO(b"MZ\x90\x00"), "tool.exe")},
                     content_type="multipart/form-data")
    assert exe.status_code == 422
    assert field_errors(text(exe), "upload-file") == ["Upload a PDF, PNG, JPEG, plain text, Markdown or CSV file."]
    fake_pdf = staff.post(url, data={"upload-file": (io.BytesIO(b"not a pdf"), "report.pdf")},
                          content_type="multipart/form-data")
    assert field_errors(text(fake_pdf), "upload-file") == ["The file's content is not a PDF document."]
    big = staff.post(url, data={"upload-file": (io.BytesIO(b"a" * (audits.MAX_DOCUMENT_BYTES + 1)), "big.txt")},
                     content_type="multipart/form-data")
    assert field_errors(text(big), "upload-file") == ["The file is larger than 10 MB."]
    assert rows(web_app, AuditDocument) == []

    policy = "# Access policy\n\nOnly on-call engineers reach production.\n"
    assert staff.post(url, data={"upload-file": (io.BytesIO(policy.encode()), "access policy.md")},
                      content_type="multipart/form-data").status_code == 302
    assert staff.post(url, data={"upload-file": (io.BytesIO(b"%PDF-1.7\n%%EOF\n"), "soc2.pdf")},
                      content_type="multipart/form-data").status_code == 302
    docs = rows(web_app, AuditDocument, order_by=AuditDocument.filename)
    assert [d["filename"] for d in docs] == ["access_policy.md", "soc2.pdf"]
    md, pdf = docs
    assert md["storage_key"].startswith(f"tenants/{acme.id}/audits/{audit['id']}/")
    with in_app(web_app, commit=False):
        stored = storage.storage().get(md["storage_key"])
    assert b"on-call" not in stored  # sealed at rest

    page = text(web.get(f"/t/acme/audits/{audit['id']}"))
    assert "CONFIDENTIAL" in page and f"CONFIDENTIAL — shown for audit {audit['ref']}" in page
    download = web.get(f"/t/acme/audits/{audit['id']}/documents/{md['id']}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="CONFIDENTIAL-access_policy.md"'
    assert download.headers["X-Confidential"] == f"CONFIDENTIAL — shown for audit {audit['ref']}"
    assert text(download) == f"CONFIDENTIAL — shown for audit {audit['ref']}\n\n{policy}"
    binary = staff.get(f"/admin/audits/{audit['id']}/documents/{pdf['id']}")
    assert binary.data == b"%PDF-1.7\n%%EOF\n" and binary.mimetype == "application/pdf"
    assert binary.headers["Content-Disposition"].startswith("attachment;")


def test_another_tenants_audit_is_404(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    globex = new_tenant(web_app, "globex")
    sign_in(web, acme.owner)
    _request(web, "acme", "2026-07-15")
    [audit] = rows(web_app, Audit)
    other = web_app.test_client()
    sign_in(other, globex.owner)
    assert other.get(f"/t/globex/audits/{audit['id']}").status_code == 404
    assert other.get(f"/t/acme/audits/{audit['id']}").status_code == 404


@pytest.mark.obligation("DPA-4.6")
def test_audit_documents_survive_key_rotation(app, time_machine):
    """Each document's key is encrypted under the tenant's data key: rotation re-encrypts it,
    and once the old key version is retired the document still opens."""
    from tenantry.platform import jobs
    from tenantry.platform.crypto import fields, rotation

    time_machine.move_to(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), tick=False)
    with app.app_context():
        tenant = factories.make_tenant("acme")
        staff = factories.make_staff("platform-admin")
        with tenant_context(tenant):
            audit = audits.request_audit(tenant, tenant._test_owner, scope="All",
                                         proposed_date=datetime(2026, 7, 15).date(), **AUDITOR)
            doc = audits.share_document(audit, staff, "notes.txt", b"Racks are locked.")
            before = fields.key_version(doc.content_key)
            ids = (tenant.id, audit.id, doc.id, staff.id)
        db.session.commit()
    with app.app_context():
        tenant = db.session.get(Tenant, ids[0])
        rotation.rotate(tenant)
        db.session.commit()
        jobs.drain()
    with app.app_context():
        tenant = db.session.get(Tenant, ids[0])
        with tenant_context(tenant):
            audit = db.session.get(Audit, ids[1])
            doc = audits.get_document(audit, ids[2])
            assert fields.key_version(doc.content_key) > before
            data = audits.read_document(audit, doc, db.session.get(StaffUser, ids[3]))
    assert data == "CONFIDENTIAL — shown for audit AUD-0001\n\nRacks are locked.".encode()
