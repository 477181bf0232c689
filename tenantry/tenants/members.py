"""Members, roles and invitations of the current tenant [DPA-B.permissions, TT-least-privilege]."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db
from tenantry.platform.identity import tokens
from tenantry.platform.identity.models import ROLE_RANK, Invitation, Membership, Role, User
from tenantry.platform.tenancy import current_tenant

INVITATION_HOURS = 72


class MemberError(ValueError):
    """A change the rules refuse; the message is shown to the person who asked."""


def members() -> list[Membership]:
    return list(db.session.execute(
        sa.select(Membership).join(Membership.user).order_by(User.email)
    ).scalars())


def get(membership_id) -> Membership | None:
    return db.session.execute(sa.select(Membership).where(Membership.id == membership_id)).scalar_one_or_none()


def owner_count() -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Membership).where(Membership.role == Role.OWNER)
    ).scalar_one()


def _may_manage(actor: Membership, role: str) -> None:
    if not actor.can(Role.ADMIN):
        raise MemberError("Only owners and admins manage members.")
    if ROLE_RANK[Role(role)] > ROLE_RANK[Role(actor.role)]:
        raise MemberError("You cannot grant a role above your own.")


def change_role(actor: Membership, target: Membership, role: str) -> None:
    role = Role(role).value
    _may_manage(actor, role)
    _may_manage(actor, target.role)
    if target.role == Role.OWNER and role != Role.OWNER and owner_count() <= 1:
        raise MemberError("The workspace's last owner cannot be demoted. Make someone else an owner first.")
    if target.role == role:
        return
    old = target.role
    target.role = role
    audit.record("membership.role-changed", actor=actor.user, tenant_id=target.tenant_id, target_type="membership",
                 target_id=target.id, details={"from": old, "to": role})


def remove(actor: Membership, target: Membership) -> None:
    if target.id != actor.id:
        _may_manage(actor, target.role)
    if target.role == Role.OWNER and owner_count() <= 1:
        raise MemberError("The workspace's last owner cannot be removed.")
    audit.record("membership.removed", actor=actor.user, tenant_id=target.tenant_id, target_type="membership",
                 target_id=target.id, details={"role": target.role, "user_id": str(target.user_id)})
    db.session.delete(target)


def pending_invitations() -> list[Invitation]:
    now = clock.now()
    return list(db.session.execute(
        sa.select(Invitation).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
                                    Invitation.expires_at > now).order_by(Invitation.created_at.desc())
    ).scalars())


def invite(actor: Membership, email: str, role: str) -> tuple[Invitation, str]:
    role = Role(role).value
    _may_manage(actor, role)
    email = email.strip().lower()
    existing = db.session.execute(
        sa.select(Membership).join(Membership.user).where(User.email == email)
    ).scalar_one_or_none()
    if existing is not None:
        raise MemberError("This person is already a member.")
    now = clock.now()
    for old in db.session.execute(
        sa.select(Invitation).where(Invitation.email == email, Invitation.accepted_at.is_(None),
                                    Invitation.revoked_at.is_(None))
    ).scalars():
        old.revoked_at = now
    raw = tokens.new_token()
    inv = Invitation(email=email, role=role, token_hash=tokens.digest(raw), invited_by_user_id=actor.user_id,
                     expires_at=now + timedelta(hours=INVITATION_HOURS))
    db.session.add(inv)
    db.session.flush()
    link = f"{current_app.extensions['tenantry.settings'].base_url}/invite/{raw}"
    notify.create(
        "membership.invitation",
        to_email=email,
        tenant_id=current_tenant.id,
        subject=f"You are invited to {current_tenant.name} on Tenantry",
        body=(
            f"{actor.user.display_name} invited you to the workspace \"{current_tenant.name}\" on Tenantry "
            f"as {role}.\n\nAccept the invitation (the link works once and expires in {INVITATION_HOURS} hours):\n"
            f"{link}\n\nIf you did not expect this, ignore this e-mail."
        ),
    )
    audit.record("membership.invited", actor=actor.user, tenant_id=inv.tenant_id, target_type="invitation",
                 target_id=inv.id, details={"role": role})
    return inv, link


def revoke_invitation(actor: Membership, inv: Invitation) -> None:
    _may_manage(actor, inv.role)
    inv.revoked_at = clock.now()
    audit.record("membership.invitation-revoked", actor=actor.user, tenant_id=inv.tenant_id,
                 target_type="invitation", target_id=inv.id)


def find_invitation(raw: str) -> Invitation | None:
    """Look an invitation up by its token, across tenants (the invitee is not a member yet)."""
    from tenantry.platform.tenancy import all_tenants

    with all_tenants():
        inv = db.session.execute(
            sa.select(Invitation).where(Invitation.token_hash == tokens.digest(raw))
        ).scalar_one_or_none()
    if inv is None or inv.accepted_at or inv.revoked_at or inv.expires_at <= clock.now():
        return None
    return inv


def join(inv: Invitation, user: User) -> Membership:
    if user.email != inv.email:
        raise MemberError(f"This invitation is for {inv.email}. Sign in with that address to accept it.")
    existing = db.session.execute(
        sa.select(Membership).where(Membership.tenant_id == inv.tenant_id, Membership.user_id == user.id)
    ).scalar_one_or_none()
    inv.accepted_at = clock.now()
    if existing is not None:
        return existing
    membership = Membership(tenant_id=inv.tenant_id, user_id=user.id, role=inv.role)
    db.session.add(membership)
    audit.record("membership.joined", actor=user, tenant_id=inv.tenant_id, target_type="invitation",
                 target_id=inv.id, details={"role": inv.role})
    return membership
