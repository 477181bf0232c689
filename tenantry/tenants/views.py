"""The tenant's own pages: sign-up, dashboard, agreement, members, security policy."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.dpa import agreements, terms
from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.extensions import limiter
from tenantry.platform.identity import login, passwords, sessions
from tenantry.platform.identity.models import Invitation, Membership, Role, User
from tenantry.platform.tenancy import current_tenant, tenant_context
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants import forms, local_time, members, signup

public = Blueprint("tenants", __name__)
bp = tenant_blueprint("tenant", __name__)


def _status(form) -> int:
    return 422 if form.errors else 200


def _signup_rate() -> str:
    return current_app.extensions["tenantry.settings"].ratelimit_login


# As sign-in: the answer tells whether an e-mail has an account, so it is not a free oracle.
@public.route("/signup", methods=["GET", "POST"], endpoint="signup")
@limiter.limit(_signup_rate, methods=["POST"])
def signup_view():
    signed_in = current_user.is_authenticated and not current_user.is_staff
    form = forms.WorkspaceFields() if signed_in else forms.SignupForm()
    version = agreements.in_force()
    jurisdiction = form.jurisdiction.data if form.jurisdiction.data in {"gdpr", "ccpa", "pdpa"} else "gdpr"
    if form.validate_on_submit():
        try:
            if signed_in:
                tenant, owner = signup.sign_up(name=form.name.data, slug=form.slug.data, country=form.country.data,
                                               jurisdiction=form.jurisdiction.data, accepted=form.accept.data,
                                               owner=current_user)
            else:
                tenant, owner = signup.sign_up(
                    name=form.name.data, slug=form.slug.data, country=form.country.data,
                    jurisdiction=form.jurisdiction.data, accepted=form.accept.data,
                    person_name=form.person_name.data, email=form.email.data, password=form.password.data,
                )
        except signup.SignupError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            if not signed_in:
                sessions.start(owner)
            db.session.commit()
            flash(f"Welcome to {tenant.name.rstrip('.')}. Your workspace is ready.", "success")
            return redirect(url_for("tenant.dashboard", slug=tenant.slug))
    return render_template("tenants/signup.html", form=form, signed_in=signed_in, version=version,
                           agreement_html=terms.render_html(version.body_markdown, jurisdiction)), _status(form)


@public.route("/invite/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    inv = members.find_invitation(token)
    if inv is None:
        return render_template("tenants/invite_invalid.html"), 404
    from tenantry.platform.tenancy import Tenant

    tenant = db.session.get(Tenant, inv.tenant_id)
    existing = login.find("user", inv.email)
    if current_user.is_authenticated and not current_user.is_staff:
        if current_user.email != inv.email:
            return render_template("tenants/invite_wrong_account.html", inv=inv, tenant=tenant), 403
        with tenant_context(tenant):
            members.join(inv, current_user)
            db.session.commit()
        flash(f"You joined {tenant.name}.", "success")
        return redirect(url_for("tenant.dashboard", slug=tenant.slug))
    if existing is not None and existing.password_hash:
        flash("Sign in to accept the invitation.", "info")
        return redirect(url_for("auth.login", next=request.path))
    form = forms.JoinForm()
    if form.validate_on_submit():
        min_length = max(12, tenant.password_min_length)
        issues = passwords.problems(form.password.data, min_length=min_length, user_inputs=[inv.email, form.name.data])
        if issues:
            form.password.errors.extend(issues)
        else:
            user = existing or User(email=inv.email)
            user.name = form.name.data.strip()
            login.set_password(user, form.password.data)
            db.session.add(user)
            db.session.flush()
            with tenant_context(tenant):
                members.join(inv, user)
                sessions.start(user)
                db.session.commit()
            if tenant.require_2fa:
                return redirect(url_for("auth.enrol_2fa", required=1, next=f"/t/{tenant.slug}/"))
            flash(f"Welcome to {tenant.name.rstrip('.')}.", "success")
            return redirect(url_for("tenant.dashboard", slug=tenant.slug))
    return render_template("tenants/join.html", form=form, inv=inv, tenant=tenant), _status(form)


def agreement_gate(tenant, membership):
    """Until an owner accepts the agreement (tenants created by an operator), nothing else opens."""
    if request.endpoint in ("tenant.agreement",) or agreements.has_concluded(tenant):
        return None
    return redirect(url_for("tenant.agreement"))


@bp.route("/")
def dashboard():
    people = members.members()
    panels = [(template, context()) for _order, template, context
              in current_app.extensions.get("tenantry.dashboard_panels", [])]
    return render_template(
        "tenants/dashboard.html",
        panels=panels,
        people=people,
        without_2fa=[m for m in people if not m.user.has_totp],
        acceptance=next(iter(agreements.acceptances()), None),
    )


@bp.route("/agreement", methods=["GET", "POST"])
def agreement():
    version = agreements.in_force()
    concluded = agreements.has_concluded(current_tenant)
    pending = agreements.awaiting_acceptance() if concluded else version
    form = forms.AcceptForm()
    if request.method == "POST" and (pending is None or g.membership.role != Role.OWNER):
        abort(403, "Only an owner accepts the agreement, and only a version not yet accepted.")
    if pending is not None and form.validate_on_submit():
        agreements.accept(current_tenant, current_user, pending)
        db.session.commit()
        if concluded:
            flash(f"Version {pending.version} of the agreement is accepted.", "success")
            return redirect(url_for("tenant.agreement"))
        flash("Thank you. The agreement is concluded.", "success")
        return redirect(url_for("tenant.dashboard"))
    jurisdiction = current_tenant.jurisdiction
    all_versions = agreements.versions()
    # ?version=N shows an earlier (or upcoming) version's text; a query argument, not a path
    # parameter, because versions are the same for every tenant.
    shown = version
    wanted = request.args.get("version", "")
    if concluded and wanted.isascii() and wanted.isdigit() and len(wanted) < 10:  # isdigit() alone takes "²"
        shown = next((v for v in all_versions if v.version == int(wanted)), None)
        if shown is None:
            abort(404)
    diff, compare = None, None
    if concluded and len(all_versions) > 1:
        compare = _compare_pair(all_versions)
        if compare is not None:
            diff = agreements.diff_html(compare[0], compare[1], jurisdiction)
    return render_template(
        "tenants/agreement.html", version=version, shown=shown, concluded=concluded, form=form,
        html=terms.render_html(shown.body_markdown, jurisdiction),
        history=agreements.acceptances(), versions=all_versions, pending=pending,
        pending_html=terms.render_html(pending.body_markdown, jurisdiction) if pending is not None else "",
        diff=diff, compare=compare, now=clock.now(),
    ), _status(form)


def _compare_pair(all_versions):
    """The two versions to compare: ?from=&to= when both exist, else the two newest."""
    by_number = {v.version: v for v in all_versions}
    try:
        a, b = int(request.args.get("from", "")), int(request.args.get("to", ""))
    except ValueError:
        return all_versions[1], all_versions[0]
    if a not in by_number or b not in by_number:
        abort(404)
    return by_number[min(a, b)], by_number[max(a, b)]


@bp.route("/members")
def members_view():
    return render_template("tenants/members.html", people=members.members(), invitations=members.pending_invitations(),
                           invite_form=forms.InviteForm(), owners=members.owner_count(),
                           role_choices=forms.ROLE_CHOICES)


@bp.route("/members/invite", methods=["POST"])
@require_role(Role.ADMIN)
def invite():
    form = forms.InviteForm()
    if form.validate_on_submit():
        try:
            members.invite(g.membership, form.email.data, form.role.data)
        except members.MemberError as exc:
            form.email.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Invitation sent to {form.email.data}. It expires in {members.INVITATION_HOURS} hours.", "success")
            return redirect(url_for("tenant.members_view"))
    db.session.rollback()
    return render_template("tenants/members.html", people=members.members(), invitations=members.pending_invitations(),
                           invite_form=form, owners=members.owner_count(), role_choices=forms.ROLE_CHOICES), 422


def _membership_or_404(membership_id: uuid.UUID) -> Membership:
    target = members.get(membership_id)
    if target is None:
        abort(404)
    return target


@bp.route("/members/<uuid:membership_id>/role", methods=["POST"])
@require_role(Role.ADMIN)
def change_role(membership_id: uuid.UUID):
    target = _membership_or_404(membership_id)
    form = forms.RoleForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return redirect(url_for("tenant.members_view"))
    try:
        members.change_role(g.membership, target, form.role.data)
    except members.MemberError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{target.user.display_name} is now {target.role}.", "success")
    return redirect(url_for("tenant.members_view"))


@bp.route("/members/<uuid:membership_id>/remove", methods=["POST"])
@require_role(Role.VIEWER)
def remove_member(membership_id: uuid.UUID):
    target = _membership_or_404(membership_id)
    leaving = target.id == g.membership.id
    if not leaving and not g.membership.can(Role.ADMIN):
        abort(403, "Your role in this workspace does not allow this.")
    try:
        members.remove(g.membership, target)
    except members.MemberError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("tenant.members_view"))
    db.session.commit()
    if leaving:
        flash(f"You left {current_tenant.name}.", "info")
        return redirect(url_for("auth.workspaces"))
    flash(f"{target.user.display_name} was removed from the workspace.", "success")
    return redirect(url_for("tenant.members_view"))


@bp.route("/invitations/<uuid:invitation_id>/revoke", methods=["POST"])
@require_role(Role.ADMIN)
def revoke_invitation(invitation_id: uuid.UUID):
    inv = db.session.execute(sa.select(Invitation).where(Invitation.id == invitation_id)).scalar_one_or_none()
    if inv is None:
        abort(404)
    try:
        members.revoke_invitation(g.membership, inv)
    except members.MemberError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"The invitation to {inv.email} was withdrawn.", "success")
    return redirect(url_for("tenant.members_view"))


@bp.route("/settings/workspace", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def workspace_settings():
    """The workspace's name and time zone: the zone is the CRM's clock (what is due today, the
    times on its pages, the morning e-mail)."""
    tenant = current_tenant._get_current_object()
    form = forms.WorkspaceForm(obj=tenant, country=tenant.country)
    if form.validate_on_submit():
        before = {"name": tenant.name, "time_zone": tenant.time_zone}
        tenant.name = form.name.data.strip()
        tenant.time_zone = form.time_zone.data or None
        after = {"name": tenant.name, "time_zone": tenant.time_zone}
        if after != before:
            audit.record("tenant.settings-changed", actor=current_user, tenant_id=tenant.id, target_type="tenant",
                         target_id=tenant.id, details={"from": before, "to": after})
            db.session.commit()
        flash("Workspace settings saved.", "success")
        return redirect(url_for("tenant.workspace_settings"))
    return render_template("tenants/workspace.html", form=form, zone=local_time.zone_of(tenant),
                           local_now=local_time.now(tenant)), _status(form)


@bp.route("/settings/security", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def security_settings():
    tenant = current_tenant._get_current_object()
    form = forms.SecurityPolicyForm(obj=tenant)
    if form.validate_on_submit():
        before = {k: getattr(tenant, k) for k in ("require_2fa", "password_min_length", "password_max_age_days")}
        tenant.require_2fa = form.require_2fa.data
        tenant.password_min_length = form.password_min_length.data
        tenant.password_max_age_days = form.password_max_age_days.data or 0
        tenant.privacy_contact_email = (form.privacy_contact_email.data or "").strip().lower() or None
        after = {k: getattr(tenant, k) for k in before}
        audit.record("tenant.policy-changed", actor=current_user, tenant_id=tenant.id, target_type="tenant",
                     target_id=tenant.id, details={"from": before, "to": after})
        db.session.commit()
        flash("Security policy saved.", "success")
        if tenant.require_2fa and not current_user.has_totp:
            return redirect(url_for("auth.enrol_2fa", required=1, next=url_for("tenant.security_settings")))
        return redirect(url_for("tenant.security_settings"))
    return render_template("tenants/security.html", form=form), _status(form)
