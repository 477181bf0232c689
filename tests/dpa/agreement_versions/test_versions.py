"""Versions of the agreement: published by platform admins with 30 days' notice, told to every
tenant's owners by e-mail and in-app, in force on the effective date, earlier versions readable,
diffs between any two, the tenant's acceptances, and the tenant's own legal words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tenantry.dpa import agreements
from tenantry.dpa.models import AgreementAcceptance
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import all_tenants
from tests.dpa.registry.conftest import days, new_staff, new_tenant, signed_in

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
V2_TEXT = ("# Data processing agreement, version 2\n\nThe [[processor]] processes [[personal data]] for "
           "[[a controller]] and helps it answer [[data subjects]].\n\nA new clause <script>alert(1)</script>.\n")


@pytest.fixture
def web_app(make_app, smtp_server):
    app = make_app(**smtp_server.config())
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def _form(effective: str, **extra) -> dict:
    return {"title": "Data processing agreement, version 2", "summary": "Adds a clause on AI assistance.",
            "body_markdown": V2_TEXT, "effective_at": effective, **extra}


@pytest.mark.obligation("DPA-8.6")
def test_publishing_needs_30_days_notice_unless_a_reason_is_recorded(web_app, time_machine):
    time_machine.move_to(T0, tick=False)
    new_tenant(web_app, "alpha")
    client = signed_in(web_app, new_staff(web_app))
    response = client.post("/admin/agreement", data=_form("2026-06-30T09:00"))
    assert response.status_code == 422
    assert "at least 30 days ahead" in response.get_data(as_text=True)
    response = client.post("/admin/agreement", data=_form("2026-06-01T08:00", override_reason="Required by law"))
    assert response.status_code == 422 and "in the future" in response.get_data(as_text=True)
    bad = client.post("/admin/agreement", data={**_form("2026-07-02T09:00"), "body_markdown": "The [[vendor]]."})
    assert bad.status_code == 422 and "unknown term token" in bad.get_data(as_text=True)
    with web_app.app_context():
        assert [v.version for v in agreements.versions()] == [1]
        assert db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar_one() == 0
    response = client.post("/admin/agreement", data=_form("2026-06-15T09:00", override_reason="Required by law"))
    assert response.status_code == 302
    with web_app.app_context():
        assert [v.version for v in agreements.versions()] == [2, 1]
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "agreement.published")).scalar_one()
        assert event.details["short_notice_reason"] == "Required by law"
    # Support staff may read the page but not publish.
    support = signed_in(web_app, new_staff(web_app, "support"))
    assert support.get("/admin/agreement").status_code == 200
    assert support.post("/admin/agreement", data=_form("2026-08-01T09:00")).status_code == 403


@pytest.mark.obligation("DPA-8.6", "DPA-8.4")
def test_a_new_version_is_announced_to_every_owner_and_takes_effect_on_its_date(web_app, smtp_server, time_machine):
    time_machine.move_to(T0, tick=False)
    _a, a_owner = new_tenant(web_app, "alpha")
    _b, b_owner = new_tenant(web_app, "beta", jurisdiction="ccpa")
    client = signed_in(web_app, new_staff(web_app))
    assert client.post("/admin/agreement", data=_form("2026-07-01T09:00")).status_code == 302
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == sorted([a_owner.email, b_owner.email])
    message = smtp_server.messages[0].message
    assert "version 2" in message["Subject"] and "2026-07-01" in message["Subject"]
    assert "Adds a clause on AI assistance." in message.get_content()
    with web_app.app_context():
        notes = db.session.execute(sa.select(Notification).where(Notification.kind == "agreement.published")).scalars().all()
        assert len(notes) == 2 and all(n.in_app and n.requires_ack and n.delivery_state == "sent" for n in notes)
        assert agreements.in_force().version == 1

    time_machine.move_to(datetime(2026, 7, 1, 8, 59, tzinfo=UTC), tick=False)
    with web_app.app_context():
        assert agreements.in_force().version == 1
    time_machine.move_to(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), tick=False)
    with web_app.app_context():
        assert agreements.in_force().version == 2
    public = web_app.test_client()
    assert "version 2" in public.get("/agreement").get_data(as_text=True)
    assert public.get("/agreement/v1").status_code == 200  # earlier versions stay readable
    # The CCPA tenant reads version 2 in its own law's words.
    page = signed_in(web_app, b_owner).get("/t/beta/agreement").get_data(as_text=True)
    assert "The service provider processes personal information for a business" in page
    assert "consumers" in page and "[[" not in page
    old = signed_in(web_app, a_owner).get("/t/alpha/agreement?version=1").get_data(as_text=True)
    assert "Below: version 1" in old


@pytest.mark.obligation("DPA-8.6", "DPA-2.8", "DPA-1.terms")
def test_tenants_compare_any_two_versions_and_accept_the_new_one(web_app, time_machine):
    time_machine.move_to(T0, tick=False)
    a_id, a_owner = new_tenant(web_app, "alpha", jurisdiction="pdpa")
    client = signed_in(web_app, new_staff(web_app))
    assert client.post("/admin/agreement", data=_form("2026-07-05T09:00")).status_code == 302

    time_machine.move_to(T0 + days(1), tick=False)
    owner = signed_in(web_app, a_owner)
    page = owner.get("/t/alpha/agreement").get_data(as_text=True)
    assert "Version 2: Data processing agreement, version 2" in page and "takes effect on 2026-07-05" in page
    assert "upcoming" in page and "in force" in page
    # The diff of the two newest, in PDPA words, with the text escaped.
    assert 'class="diff"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "data intermediary processes personal data for an organisation" in page
    assert owner.get("/t/alpha/agreement?from=2&to=1").status_code == 200
    assert owner.get("/t/alpha/agreement?from=1&to=99").status_code == 404
    assert owner.get("/t/alpha/agreement?from=x&to=1").status_code == 200

    assert owner.post("/t/alpha/agreement", data={"accept": "y"}).status_code == 302
    assert owner.post("/t/alpha/agreement", data={"accept": "y"}).status_code == 403  # nothing left to accept
    with web_app.app_context(), all_tenants():
        rows = db.session.execute(sa.select(AgreementAcceptance).where(AgreementAcceptance.tenant_id == a_id)
                                  .order_by(AgreementAcceptance.accepted_at)).scalars().all()
        assert [(r.version.version, r.accepted_by_email) for r in rows] == [(1, a_owner.email), (2, a_owner.email)]
        assert rows[1].accepted_at == T0 + days(1) and rows[1].ip == "127.0.0.1"
    history = owner.get("/t/alpha/agreement").get_data(as_text=True)
    assert history.count(a_owner.email) >= 2 and "Accept version" not in history


def test_a_member_cannot_accept_a_new_version(web_app, time_machine):
    time_machine.move_to(T0, tick=False)
    a_id, _owner = new_tenant(web_app, "alpha")
    client = signed_in(web_app, new_staff(web_app))
    assert client.post("/admin/agreement", data=_form("2026-07-05T09:00")).status_code == 302
    with web_app.app_context():
        from tenantry.platform.tenancy import Tenant
        from tests import factories
        from tests.dpa.registry.conftest import Acct

        user = factories.add_member(db.session.get(Tenant, a_id), role="admin")._test_user
        db.session.commit()
        admin = Acct(user.id, user.email)
    member = signed_in(web_app, admin)
    assert "An owner of the workspace accepts new versions." in member.get("/t/alpha/agreement").get_data(as_text=True)
    assert member.post("/t/alpha/agreement", data={"accept": "y"}).status_code == 403
