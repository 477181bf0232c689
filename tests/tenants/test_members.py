"""Members, roles and invitations [DPA-B.permissions, TT-least-privilege, TT-unique-ids]."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import Invitation, Membership, User
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import all_tenants
from tests.factories import PASSWORD
from tests.identity.support import (
    NEW_PASSWORD,
    audit_events,
    count,
    field_errors,
    in_app,
    link_in,
    location,
    login_password,
    membership_id,
    new_member,
    new_tenant,
    role_of,
    text,
)

pytestmark = pytest.mark.obligation("DPA-B.permissions", "TT-least-privilege")

INVITEE = "new.person@example.com"


def _signed_in(app, person):
    client = app.test_client()
    assert login_password(client, person.email).status_code == 302
    return client


def _invite(client, slug, email=INVITEE, role="member"):
    return client.post(f"/t/{slug}/members/invite", data={"email": email, "role": role})


def _join(client, path, name="New Person", password=NEW_PASSWORD):
    return client.post(path, data={"name": name, "password": password, "confirm": password})


def _invite_link(outbox, email=INVITEE) -> str:
    [mail] = outbox.to(email)
    return link_in(mail.get_content(), "invite")


def _flash_after(client, response) -> str:
    assert response.status_code == 302
    return text(client.get(location(response)))


@pytest.fixture
def tenant(web_app):
    return new_tenant(web_app, "acme")


@pytest.fixture
def owner(web_app, tenant):
    return _signed_in(web_app, tenant.owner)


# --- invitations --------------------------------------------------------------------------


@pytest.mark.obligation("TT-unique-ids")
def test_an_invitation_is_e_mailed_and_makes_the_invitee_a_member_with_the_role(web_app, tenant, owner, outbox):
    response = _invite(owner, tenant.slug, "New.Person@Example.com", "admin")

    assert response.status_code == 302 and location(response) == "/t/acme/members"
    with in_app(web_app, commit=False), all_tenants():
        note = db.session.execute(
            sa.select(Notification).where(Notification.kind == "membership.invitation")
        ).scalar_one()
        assert (note.to_email, note.tenant_id, note.delivery_state) == (INVITEE, tenant.id, "sent")
        inv = db.session.execute(sa.select(Invitation)).scalar_one()
        assert (inv.email, inv.role, inv.invited_by_user_id) == (INVITEE, "admin", tenant.owner.id)
    path = _invite_link(outbox)
    assert path.split("/")[-1] not in inv.token_hash
    assert "acme".lower() in text(owner.get("/t/acme/members")).lower() and INVITEE in text(owner.get("/t/acme/members"))
    assert audit_events(web_app, "membership.invited")[0]["details"] == {"role": "admin"}

    invitee = web_app.test_client()
    page = invitee.get(path)
    assert page.status_code == 200 and INVITEE in text(page)
    joined = _join(invitee, path)

    assert joined.status_code == 302 and location(joined) == "/t/acme/"
    assert invitee.get("/t/acme/").status_code == 200
    with in_app(web_app, commit=False), all_tenants():
        user = db.session.execute(sa.select(User).where(User.email == INVITEE)).scalar_one()
        assert user.name == "New Person" and user.password_hash
        membership = db.session.execute(sa.select(Membership).where(Membership.user_id == user.id)).scalar_one()
        assert (membership.tenant_id, membership.role) == (tenant.id, "admin")
    # The link worked once.
    assert web_app.test_client().get(path).status_code == 404
    assert _join(web_app.test_client(), path, password="other-long-passphrase-88").status_code == 404


def test_an_invitation_still_works_after_71_hours(frozen, web_app, tenant, owner, outbox):
    _invite(owner, tenant.slug)
    frozen.shift(timedelta(hours=71))
    invitee = web_app.test_client()
    assert invitee.get(_invite_link(outbox)).status_code == 200
    assert _join(invitee, _invite_link(outbox)).status_code == 302
    assert invitee.get("/t/acme/").status_code == 200


def test_an_invitation_expires_after_72_hours(frozen, web_app, tenant, owner, outbox):
    _invite(owner, tenant.slug)
    frozen.shift(timedelta(hours=73))
    invitee = web_app.test_client()
    assert invitee.get(_invite_link(outbox)).status_code == 404
    assert _join(invitee, _invite_link(outbox)).status_code == 404
    assert count(web_app, User) == 1


def test_a_withdrawn_or_replaced_invitation_stops_working(web_app, tenant, owner, outbox):
    _invite(owner, tenant.slug)
    first = _invite_link(outbox)
    outbox.clear()
    _invite(owner, tenant.slug, role="viewer")  # a new invitation replaces the earlier one
    second = _invite_link(outbox)
    assert web_app.test_client().get(first).status_code == 404
    with in_app(web_app, commit=False), all_tenants():
        inv_id = db.session.execute(sa.select(Invitation.id).where(Invitation.revoked_at.is_(None))).scalar_one()
    assert owner.post(f"/t/acme/invitations/{inv_id}/revoke").status_code == 302
    assert web_app.test_client().get(second).status_code == 404


def test_an_invitee_with_an_account_signs_in_to_accept(web_app, tenant, owner, outbox):
    other = new_tenant(web_app, "other")
    _invite(owner, tenant.slug, other.owner.email, "viewer")
    path = _invite_link(outbox, other.owner.email)

    client = web_app.test_client()
    response = client.get(path)
    assert response.status_code == 302 and location(response).startswith("/login")
    signed = client.post(location(response), data={"email": other.owner.email, "password": PASSWORD})
    assert location(signed) == path
    assert location(client.get(path)) == "/t/acme/"
    assert role_of(web_app, tenant, other.owner) == "viewer"


def test_an_invitation_cannot_be_taken_by_another_account(web_app, tenant, owner, outbox):
    other = new_tenant(web_app, "other")
    _invite(owner, tenant.slug)
    intruder = _signed_in(web_app, other.owner)
    assert intruder.get(_invite_link(outbox)).status_code == 403
    assert intruder.get("/t/acme/").status_code == 404
    assert role_of(web_app, tenant, other.owner) is None


def test_inviting_an_existing_member_is_refused(web_app, tenant, owner):
    member = new_member(web_app, tenant, "member")
    response = _invite(owner, tenant.slug, member.email)
    assert response.status_code == 422
    assert field_errors(text(response), "email") == ["This person is already a member."]
    assert count(web_app, Invitation) == 0


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_cannot_manage_members_or_security(web_app, tenant, role):
    person = new_member(web_app, tenant, role)
    other = new_member(web_app, tenant, "viewer")
    client = _signed_in(web_app, person)

    assert _invite(client, tenant.slug).status_code == 403
    assert client.post(f"/t/acme/members/{membership_id(web_app, tenant, other)}/role",
                       data={"role": "owner"}).status_code == 403
    assert client.post(f"/t/acme/members/{membership_id(web_app, tenant, person)}/role",
                       data={"role": "owner"}).status_code == 403
    assert client.get("/t/acme/settings/security").status_code == 403
    assert client.post("/t/acme/settings/security", data={"password_min_length": "8"}).status_code == 403
    assert role_of(web_app, tenant, other) == "viewer" and role_of(web_app, tenant, person) == role
    assert count(web_app, Invitation) == 0
    # They still see who is in the workspace, without the controls.
    page = text(client.get("/t/acme/members"))
    assert other.email in page and "Send invitation" not in page


def test_an_admin_cannot_grant_owner_or_touch_owners(web_app, tenant, outbox):
    admin = new_member(web_app, tenant, "admin")
    member = new_member(web_app, tenant, "member")
    client = _signed_in(web_app, admin)

    refused = _invite(client, tenant.slug, role="owner")
    assert refused.status_code == 422
    assert field_errors(text(refused), "email") == ["You cannot grant a role above your own."]
    assert count(web_app, Invitation) == 0 and len(outbox) == 0

    page = _flash_after(client, client.post(f"/t/acme/members/{membership_id(web_app, tenant, member)}/role",
                                            data={"role": "owner"}))
    assert "You cannot grant a role above your own." in page
    assert role_of(web_app, tenant, member) == "member"

    owner_mid = membership_id(web_app, tenant, tenant.owner)
    client.post(f"/t/acme/members/{owner_mid}/role", data={"role": "viewer"})
    client.post(f"/t/acme/members/{owner_mid}/remove")
    assert role_of(web_app, tenant, tenant.owner) == "owner"

    # What an admin may do: invite and change roles up to admin.
    assert _invite(client, tenant.slug, role="admin").status_code == 302
    client.post(f"/t/acme/members/{membership_id(web_app, tenant, member)}/role", data={"role": "admin"})
    assert role_of(web_app, tenant, member) == "admin"


def test_an_owner_changes_roles_and_it_is_audited(web_app, tenant, owner):
    member = new_member(web_app, tenant, "viewer")
    mid = membership_id(web_app, tenant, member)

    page = _flash_after(owner, owner.post(f"/t/acme/members/{mid}/role", data={"role": "admin"}))

    assert "is now admin" in page
    assert role_of(web_app, tenant, member) == "admin"
    owner.post(f"/t/acme/members/{mid}/role", data={"role": "owner"})
    assert role_of(web_app, tenant, member) == "owner"
    events = audit_events(web_app, "membership.role-changed")
    assert [e["details"] for e in events] == [{"from": "viewer", "to": "admin"}, {"from": "admin", "to": "owner"}]
    assert all(e["tenant_id"] == tenant.id and e["actor_id"] == str(tenant.owner.id) for e in events)


def test_an_unknown_role_is_refused(web_app, tenant, owner):
    member = new_member(web_app, tenant, "viewer")
    page = _flash_after(owner, owner.post(f"/t/acme/members/{membership_id(web_app, tenant, member)}/role",
                                          data={"role": "superuser"}))
    assert "Choose one of the listed roles." in page
    assert role_of(web_app, tenant, member) == "viewer"


def test_the_last_owner_cannot_be_demoted_or_removed(web_app, tenant, owner):
    mid = membership_id(web_app, tenant, tenant.owner)

    demote = _flash_after(owner, owner.post(f"/t/acme/members/{mid}/role", data={"role": "admin"}))
    assert "last owner cannot be demoted" in demote
    remove = _flash_after(owner, owner.post(f"/t/acme/members/{mid}/remove"))
    assert "last owner cannot be removed" in remove

    assert role_of(web_app, tenant, tenant.owner) == "owner"
    assert owner.get("/t/acme/").status_code == 200
    assert audit_events(web_app, "membership.role-changed") == []
    assert audit_events(web_app, "membership.removed") == []


def test_with_two_owners_one_can_be_demoted(web_app, tenant, owner):
    second = new_member(web_app, tenant, "owner")
    second_client = _signed_in(web_app, second)

    second_client.post(f"/t/acme/members/{membership_id(web_app, tenant, tenant.owner)}/role", data={"role": "admin"})

    assert role_of(web_app, tenant, tenant.owner) == "admin"
    # Now the second owner is the last one.
    owner_page = _flash_after(owner, owner.post(f"/t/acme/members/{membership_id(web_app, tenant, second)}/role",
                                                data={"role": "member"}))
    assert "cannot grant" in owner_page or "above your own" in owner_page
    last = _flash_after(second_client, second_client.post(
        f"/t/acme/members/{membership_id(web_app, tenant, second)}/role", data={"role": "admin"}))
    assert "last owner cannot be demoted" in last
    assert role_of(web_app, tenant, second) == "owner"


def test_a_removed_member_loses_the_tenant(web_app, tenant, owner):
    member = new_member(web_app, tenant, "member")
    member_client = _signed_in(web_app, member)
    assert member_client.get("/t/acme/").status_code == 200

    page = _flash_after(owner, owner.post(f"/t/acme/members/{membership_id(web_app, tenant, member)}/remove"))

    assert "was removed from the workspace" in page
    assert role_of(web_app, tenant, member) is None
    assert member_client.get("/t/acme/").status_code == 404
    assert member_client.get("/t/acme/members").status_code == 404
    [event] = audit_events(web_app, "membership.removed")
    assert event["details"]["user_id"] == str(member.id)
    with in_app(web_app, commit=False):
        assert db.session.get(User, member.id) is not None  # the account stays; only the membership goes


def test_a_viewer_can_leave_the_workspace(web_app, tenant):
    viewer = new_member(web_app, tenant, "viewer")
    client = _signed_in(web_app, viewer)
    response = client.post(f"/t/acme/members/{membership_id(web_app, tenant, viewer)}/remove")
    assert response.status_code == 302 and location(response) == "/workspaces"
    assert role_of(web_app, tenant, viewer) is None
    assert client.get("/t/acme/").status_code == 404


def test_members_of_another_tenant_are_out_of_reach(web_app, tenant, owner):
    other = new_tenant(web_app, "other")
    stranger = new_member(web_app, other, "member")
    mid = membership_id(web_app, other, stranger)
    assert owner.post(f"/t/acme/members/{mid}/role", data={"role": "viewer"}).status_code == 404
    assert owner.post(f"/t/acme/members/{mid}/remove").status_code == 404
    assert role_of(web_app, other, stranger) == "member"
    assert owner.get("/t/other/").status_code == 404
    assert owner.get("/t/no-such-tenant/").status_code == 404


@pytest.mark.obligation("DPA-B.2fa", "DPA-B.password")
def test_joining_a_tenant_follows_its_policy(frozen, web_app, outbox):
    tenant = new_tenant(web_app, "strict", require_2fa=True, password_min_length=16)
    owner = _signed_in(web_app, tenant.owner)
    assert location(owner.get("/t/strict/")).startswith("/account/2fa/enrol")  # the owner has no 2FA yet
    with in_app(web_app):
        from tests import factories

        factories.enable_totp(db.session.get(User, tenant.owner.id))
    # The owner's existing session now passes the 2FA gate.
    assert _invite(owner, "strict").status_code == 302
    path = _invite_link(outbox)

    invitee = web_app.test_client()
    short = _join(invitee, path, password="Zq8-vWm4-kT7xR2")  # 15 characters
    assert short.status_code == 422 and field_errors(text(short), "password") == ["Use at least 16 characters."]
    joined = _join(invitee, path, password="Zq8-vWm4-kT7xR2p")
    assert joined.status_code == 302 and location(joined).startswith("/account/2fa/enrol")
    assert location(invitee.get("/t/strict/")).startswith("/account/2fa/enrol")
