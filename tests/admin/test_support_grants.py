"""Support access that a tenant grants: before, during, after expiry and after revocation.

Staff reach a workspace only through a live grant of that tenant, re-checked on every request,
and everything seen or done under it is in the tenant's audit trail as support access.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm import contacts
from tenantry.tenants.support_grants import SupportGrant
from tests import factories
from tests.tenants.crm.isolation_objects import _contact

pytestmark = pytest.mark.obligation("DPA-4.1", "DPA-4.3.2", "DPA-4.5", "TT-least-privilege")


@pytest.fixture
def world(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        tenant = factories.make_tenant("acme")
        other = factories.make_tenant("other")
        support = factories.make_staff("support", email="sam.support@example.com")
        support.name = "Sam Support"
        contact_id = _contact(tenant)
        other_contact_id = _contact(other)
        db.session.commit()
        ctx = {"tenant": tenant.slug, "tenant_id": tenant.id, "other": other.slug, "owner": tenant._test_owner,
               "support": support, "contact_id": contact_id, "other_contact_id": other_contact_id,
               "other_owner": other._test_owner}
    # Returned outside the app context: requests must not share one `g` (and its signed-in user).
    return ctx


def _signed_in(app, principal):
    client = app.test_client()
    with app.app_context():
        merged = db.session.merge(principal)
        merged._test_secret = getattr(principal, "_test_secret", None)
        factories.sign_in(client, merged)
    return client


def _grant(app, world, *, scope="read-only", hours=4):
    owner = _signed_in(app, world["owner"])
    with app.app_context():
        staff_id = db.session.merge(world["support"]).id
    response = owner.post(f"/t/{world['tenant']}/settings/support",
                          data={"staff": str(staff_id), "ticket_ref": "SUP-1042", "scope": scope, "hours": hours})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    with app.app_context(), tenant_context(_tenant(world)):
        return owner, db.session.execute(sa.select(SupportGrant.id)).scalar_one()


def _tenant(world):
    from tenantry.platform.tenancy import Tenant

    return db.session.get(Tenant, world["tenant_id"])


def _support_events(app, world):
    with app.app_context():
        return list(db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == world["tenant_id"], AuditEvent.actor_type == "staff")
            .order_by(AuditEvent.id)
        ).scalars())


def test_without_a_grant_staff_of_every_role_get_404_in_a_workspace(app, world):
    for role in ("support", "platform-admin", "dpo"):
        with app.app_context():
            staff = factories.make_staff(role)
            db.session.commit()
        client = _signed_in(app, staff)
        for path in ("/", "/crm/contacts", f"/crm/contacts/{world['contact_id']}", "/members"):
            response = client.get(f"/t/{world['tenant']}{path}")
            assert response.status_code == 404, (role, path, response.status_code)
            assert "Izolovaná" not in response.get_data(as_text=True)
    assert _support_events(app, world) == []


def test_during_a_read_only_grant_support_reads_audited_as_support_and_cannot_write(app, world):
    _owner, grant_id = _grant(app, world, scope="read-only")
    support = _signed_in(app, world["support"])
    base = f"/t/{world['tenant']}"

    response = support.get(f"{base}/crm/contacts/{world['contact_id']}")
    assert response.status_code == 200
    assert "Izolovaná" in response.get_data(as_text=True)

    # Read-only means no writes, whatever the page would let a viewer do.
    response = support.post(f"{base}/crm/contacts/{world['contact_id']}/delete")
    assert response.status_code == 403
    response = support.post(f"{base}/crm/contacts/new", data={"first_name": "New", "last_name": "Person"})
    assert response.status_code == 403
    # A grant never opens owner/admin settings, nor another grant.
    assert support.get(f"{base}/settings/support").status_code == 403
    assert support.get(f"{base}/settings/security").status_code == 403
    # Another tenant's workspace, and its records, stay hidden.
    assert support.get(f"/t/{world['other']}/crm/contacts/{world['other_contact_id']}").status_code == 404

    with app.app_context(), tenant_context(_tenant(world)):
        assert contacts.get(world["contact_id"]) is not None
    events = _support_events(app, world)
    seen = [e for e in events if e.action == "support.page_viewed"]
    assert [e.details["endpoint"] for e in seen] == ["crm.contact_show", "support.index", "tenant.security_settings"]
    assert seen[0].details["records"] == {"contact_id": str(world["contact_id"])}
    assert seen[0].outcome == "success" and seen[1].outcome == "failure"
    refused = [e for e in events if e.action == "support.request"]
    assert [(e.details["endpoint"], e.details["status"], e.outcome) for e in refused] == [
        ("crm.contact_delete", 403, "failure"), ("crm.contact_new", 403, "failure")]
    with app.app_context():
        support_id = str(db.session.merge(world["support"]).id)
    for event in events:
        assert event.actor_id == support_id
        assert event.details["support_grant"] == str(grant_id)
        assert event.details["ticket"] == "SUP-1042"


def test_a_read_write_grant_edits_like_a_member_and_the_change_is_marked_as_support(app, world):
    _owner, grant_id = _grant(app, world, scope="read-write")
    support = _signed_in(app, world["support"])
    base = f"/t/{world['tenant']}"
    response = support.post(f"{base}/crm/contacts/new", data={"first_name": "Pavel", "last_name": "Nový"})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    assert support.get(f"{base}/members").status_code == 200
    assert support.post(f"{base}/members/invite", data={"email": "x@example.com", "role": "admin"}).status_code == 403
    created = [e for e in _support_events(app, world) if e.action == "crm.contact.created"]
    assert len(created) == 1
    assert created[0].details["support_grant"] == str(grant_id)
    assert created[0].details["ticket"] == "SUP-1042"
    # Nothing is assigned to support staff here: no e-mails about it to turn on or off.
    assert "reminder" not in support.get(f"{base}/").get_data(as_text=True)
    assert support.post(f"{base}/crm/reminders", data={"enabled": "0"}).status_code == 403


def test_expiry_ends_access_in_the_middle_of_a_session(app, world, time_machine):
    time_machine.move_to(clock.now(), tick=True)
    _owner, _grant_id = _grant(app, world, hours=1)
    support = _signed_in(app, world["support"])
    url = f"/t/{world['tenant']}/crm/contacts/{world['contact_id']}"
    # Requests every 20 minutes keep the sign-in session alive; only the grant runs out.
    for minutes in (0, 20, 20, 19):
        time_machine.shift(timedelta(minutes=minutes))
        assert support.get(url).status_code == 200
    time_machine.shift(timedelta(minutes=2))
    response = support.get(url)
    assert response.status_code == 404
    assert "Izolovaná" not in response.get_data(as_text=True)
    # The same session still opens the console: only the workspace closed.
    assert support.get("/admin/").status_code == 200


def test_revocation_ends_access_at_once_and_is_audited(app, world):
    owner, grant_id = _grant(app, world)
    support = _signed_in(app, world["support"])
    url = f"/t/{world['tenant']}/crm/contacts/{world['contact_id']}"
    assert support.get(url).status_code == 200
    response = owner.post(f"/t/{world['tenant']}/settings/support/{grant_id}/revoke")
    assert response.status_code == 302
    assert support.get(url).status_code == 404
    assert support.get(f"/t/{world['tenant']}/").status_code == 404
    with app.app_context():
        actions = list(db.session.execute(
            sa.select(AuditEvent.action).where(AuditEvent.tenant_id == world["tenant_id"],
                                               AuditEvent.target_id == str(grant_id)).order_by(AuditEvent.id)
        ).scalars())
    assert actions == ["support.granted", "support.page_viewed", "support.revoked"]
    page = owner.get(f"/t/{world['tenant']}/settings/support").get_data(as_text=True)
    assert "revoked" in page and "SUP-1042" in page


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"hours": "73"}, "hours", "from 1 to 72 hours"),
    ({"hours": "0"}, "hours", "from 1 to 72 hours"),
    ({"hours": ""}, "hours", "how many hours"),
    ({"ticket_ref": ""}, "ticket_ref", "ticket reference"),
    ({"ticket_ref": "=cmd()"}, "ticket_ref", "letters, digits"),
    ({"scope": "admin"}, "scope", "Not a valid choice"),
    ({"staff": "not-a-person"}, "staff", "Not a valid choice"),
])
def test_a_bad_grant_is_refused_next_to_its_field_and_nothing_is_saved(app, world, data, field, message):
    owner = _signed_in(app, world["owner"])
    with app.app_context():
        staff_id = db.session.merge(world["support"]).id
    form = {"staff": str(staff_id), "ticket_ref": "SUP-1", "scope": "read-only", "hours": "24", **data}
    response = owner.post(f"/t/{world['tenant']}/settings/support", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-err"' in page
    assert message.lower() in page.lower()
    with app.app_context(), tenant_context(_tenant(world)):
        assert db.session.execute(sa.select(sa.func.count()).select_from(SupportGrant)).scalar() == 0


def test_only_support_staff_can_be_chosen_and_only_owners_and_admins_grant(app, world):
    with app.app_context():
        admin_staff = factories.make_staff("platform-admin", email="pat.admin@example.com")
        member = factories.add_member(_tenant(world), role="member")
        db.session.commit()
        admin_id, member_user = admin_staff.id, member._test_user
    owner = _signed_in(app, world["owner"])
    page = owner.get(f"/t/{world['tenant']}/settings/support").get_data(as_text=True)
    assert "Sam Support" in page and "pat.admin@example.com" not in page
    response = owner.post(f"/t/{world['tenant']}/settings/support",
                          data={"staff": str(admin_id), "ticket_ref": "SUP-1", "scope": "read-only", "hours": "1"})
    assert response.status_code == 422
    plain_member = _signed_in(app, member_user)
    assert plain_member.get(f"/t/{world['tenant']}/settings/support").status_code == 403


def test_grants_of_another_tenant_answer_404(app, world):
    _owner, grant_id = _grant(app, world)
    other_owner = _signed_in(app, world["other_owner"])
    assert other_owner.post(f"/t/{world['other']}/settings/support/{grant_id}/revoke").status_code == 404
    with app.app_context(), tenant_context(_tenant(world)):
        assert db.session.get(SupportGrant, grant_id).revoked_at is None
