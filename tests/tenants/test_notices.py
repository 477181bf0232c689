"""In-app notices of a workspace: listed, read, acknowledged once with who and when."""


import sqlalchemy as sa

from tenantry.platform import notify
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, tenant_context
from tests import factories


def _scene(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        tenant = factories.make_tenant("acme")
        owner = tenant._test_owner
        with tenant_context(tenant):
            note = notify.create("test.notice", recipient=owner, tenant_id=tenant.id, subject="New subprocessor",
                                 body="We propose a new subprocessor.", in_app=True, email=False, requires_ack=True)
        db.session.commit()
        return owner.id, note.id


def test_a_notice_needing_acknowledgement_shows_a_banner_until_acknowledged(app, time_machine):
    time_machine.move_to("2026-12-01 09:50:00+00:00", tick=False)
    owner_id, note_id = _scene(app)
    client = app.test_client()
    with app.app_context():
        from tenantry.platform.identity.models import User

        factories.sign_in(client, db.session.get(User, owner_id))
    page = client.get("/t/acme/").get_data(as_text=True)
    assert "need" in page and "acknowledgement" in page
    assert "New subprocessor" in client.get("/t/acme/notices").get_data(as_text=True)
    assert "We propose a new subprocessor." in client.get(f"/t/acme/notices/{note_id}").get_data(as_text=True)
    time_machine.move_to("2026-12-01 10:00:00+00:00", tick=False)
    assert client.post(f"/t/acme/notices/{note_id}/acknowledge").status_code == 302
    time_machine.move_to("2026-12-01 10:05:00+00:00", tick=False)
    assert client.post(f"/t/acme/notices/{note_id}/acknowledge").status_code == 302
    with app.app_context():
        note = db.session.get(Notification, note_id)
        assert note.acknowledged_by_user_id == owner_id
        assert note.acknowledged_at.isoformat().startswith("2026-12-01T10:00")
        assert note.read_at is not None
    assert "need your acknowledgement" not in client.get("/t/acme/").get_data(as_text=True)


def test_another_members_notice_is_404(app):
    _owner_id, note_id = _scene(app)
    client = app.test_client()
    with app.app_context():
        tenant = db.session.execute(sa.select(Tenant)).scalar_one()
        member = factories.add_member(tenant, role="admin")
        db.session.commit()
        factories.sign_in(client, member._test_user)
    assert client.get(f"/t/acme/notices/{note_id}").status_code == 404
    assert client.post(f"/t/acme/notices/{note_id}/acknowledge").status_code == 404
