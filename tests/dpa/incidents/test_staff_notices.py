"""The staff inbox at /admin/notices: a DPO's reminders and requests are there, and only theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.dpa.duties import cooperation
from tenantry.dpa.incidents import service
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import tenant_context
from tests import factories
from tests.dpa.incidents.support import incident_for
from tests.identity.support import who


@pytest.mark.obligation("DPA-4.3.6")
def test_reminders_and_cooperation_requests_reach_the_staff_inbox(app, time_machine):
    app.config["WTF_CSRF_ENABLED"] = False
    start = clock.now()
    time_machine.move_to(start, tick=False)
    with app.app_context():
        acme = factories.make_tenant("acme")
        dpo = factories.make_staff("dpo")
        support = factories.make_staff("support")
        incident_for([acme], aware_at=start)
        with tenant_context(acme):
            cooperation.open_request(acme, topic="dsr", subject="Help with an access request", details="D",
                                     user=acme._test_owner)
        refs = {"dpo": who(dpo), "support": who(support)}
        db.session.commit()
    time_machine.move_to(start + timedelta(hours=24, minutes=1), tick=False)
    with app.app_context():
        assert service.remind(clock.now()) == 1
        db.session.commit()
        dpo_notes = db.session.execute(sa.select(Notification).where(
            Notification.staff_id == refs["dpo"].id)).scalars().all()
        assert dpo_notes and all(n.in_app for n in dpo_notes)
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, refs["dpo"])
    assert "2 unread" in client.get("/admin/").get_data(as_text=True)
    inbox = client.get("/admin/notices/").get_data(as_text=True)
    assert "Reminder (24 h)" in inbox and "Cooperation request COOP-0001" in inbox
    # Newest first: the reminder came a day after the request.
    assert inbox.index("Reminder (24 h)") < inbox.index("Cooperation request COOP-0001")
    with app.app_context():
        reminder = db.session.execute(sa.select(Notification).where(
            Notification.staff_id == refs["dpo"].id, Notification.kind == "incident.reminder")).scalar_one()
        reminder_id = reminder.id
    page = client.get(f"/admin/notices/{reminder_id}").get_data(as_text=True)
    assert "Open the DPO desk" in page
    with app.app_context():
        assert db.session.get(Notification, reminder_id).read_at is not None
    assert "1 unread" in client.get("/admin/").get_data(as_text=True)
    # A notice that asks for no acknowledgement refuses one instead of pretending.
    assert client.post(f"/admin/notices/{reminder_id}/acknowledge").status_code == 400
    # Another staff member's notice is not found; their own inbox is empty.
    other = app.test_client()
    with app.app_context():
        factories.sign_in(other, refs["support"])
    assert other.get(f"/admin/notices/{reminder_id}").status_code == 404
    assert "No notices yet" in other.get("/admin/notices/").get_data(as_text=True)


def test_a_staff_notice_needing_acknowledgement_is_acknowledged_once(app):
    from tenantry.platform import notify

    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        admin = factories.make_staff("platform-admin")
        note = notify.create("test.ack", subject="Please confirm", body="Confirm this.", recipient=admin,
                             in_app=True, email=False, requires_ack=True)
        db.session.commit()
        ref, note_id = who(admin), note.id
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, ref)
    assert "needs acknowledgement" in client.get("/admin/notices/").get_data(as_text=True)
    assert client.post(f"/admin/notices/{note_id}/acknowledge").status_code == 302
    with app.app_context():
        note = db.session.get(Notification, note_id)
        assert note.acknowledged_at is not None and note.acknowledged_by_user_id is None
    assert "acknowledged" in client.get("/admin/notices/").get_data(as_text=True)
