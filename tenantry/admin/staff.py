"""Staff accounts and their roles, for platform admins [TT-least-privilege, TT-account-review].

Invitations work like `flask tenantry create-staff`: the account is created without a
password and a one-time set-up link is shown once (and e-mailed). Role changes and
deactivation end the person's sessions, and every change is an event of the platform chain.

Staff accounts get the same review as a workspace's members: inactive for 30 and 90 days
(last sign-in or session use; never signed in counts from the account's creation), two-factor
enrolment still pending (staff always need it), how many platform admins are active, and
one-click deactivation. The first sweep of every month sends the review's summary to the
active platform admins (once a month: the notice is an event of the platform chain).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.platform import audit, clock, cron, notify
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.identity import login, tokens
from tenantry.platform.identity.models import AuthSession, StaffRole, StaffUser
from tenantry.tenants import account_review

bp = staff_blueprint("admin_staff", __name__, url_prefix="/admin/staff")

ROLE_CHOICES = [
    (StaffRole.PLATFORM_ADMIN.value, "Platform admin: tenants, staff, the agreement, registry and health"),
    (StaffRole.DPO.value, "DPO: incidents, breach register, cooperation and inspections"),
    (StaffRole.SUPPORT.value, "Support: only workspaces a tenant has granted"),
]


class StaffError(ValueError):
    pass


def _normalised_email(_form, field) -> None:
    try:
        field.data = validate_email(field.data or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError(str(exc)) from exc


class InviteForm(Form):
    name = StringField("Name", validators=[DataRequired(message="Give the person's name."), Length(max=200)])
    email = EmailField("Work e-mail", validators=[DataRequired(message="Give the work e-mail."), Length(max=254),
                                                   _normalised_email])
    role = SelectField("Role", choices=ROLE_CHOICES, default=StaffRole.SUPPORT.value)


class RoleForm(Form):
    role = SelectField("Role", choices=ROLE_CHOICES)


# --- service -----------------------------------------------------------------------------


def _platform_admins_left(excluding: StaffUser) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(StaffUser)
        .where(StaffUser.role == StaffRole.PLATFORM_ADMIN.value, StaffUser.active.is_(True),
               StaffUser.id != excluding.id)
    ).scalar_one()


def _end_sessions(staff: StaffUser, reason: str) -> None:
    db.session.execute(sa.update(AuthSession).where(AuthSession.staff_id == staff.id, AuthSession.revoked_at.is_(None))
                       .values(revoked_at=clock.now(), revoked_reason=reason))


def invite(by: StaffUser, *, name: str, email: str, role: str) -> tuple[StaffUser, str]:
    if login.find("staff", email) is not None:
        raise StaffError("A staff account with this e-mail already exists.")
    staff = StaffUser(email=email, name=name.strip(), role=role)
    db.session.add(staff)
    db.session.flush()
    link = tokens.issue_setup_link(staff)
    notify.create("staff.invited", recipient=staff, subject="Your Tenantry staff account",
                  body=f"A staff account ({role}) was created for you. Set your password and two-factor "
                       f"authentication with this one-time link, valid {tokens.SETUP_LINK_HOURS} hours:\n\n{link}\n")
    audit.record("staff.created", actor=by, target_type="staff", target_id=staff.id, details={"role": role})
    return staff, link


def change_role(by: StaffUser, staff: StaffUser, role: str) -> bool:
    if role == staff.role:
        return False
    if staff.role == StaffRole.PLATFORM_ADMIN and _platform_admins_left(staff) == 0:
        raise StaffError("The last active platform admin keeps the role.")
    before, staff.role = staff.role, role
    # A new role starts with a new sign-in, so no session keeps rights it no longer has.
    _end_sessions(staff, "role changed")
    audit.record("staff.role_changed", actor=by, target_type="staff", target_id=staff.id,
                 details={"from": before, "to": role})
    return True


def deactivate(by: StaffUser, staff: StaffUser) -> bool:
    if not staff.active:
        return False
    if staff.id == by.id:
        raise StaffError("You cannot deactivate your own account.")
    if staff.role == StaffRole.PLATFORM_ADMIN and _platform_admins_left(staff) == 0:
        raise StaffError("The last active platform admin stays active.")
    staff.active = False
    _end_sessions(staff, "deactivated")
    audit.record("staff.deactivated", actor=by, target_type="staff", target_id=staff.id,
                 details={"role": staff.role})
    return True


def reactivate(by: StaffUser, staff: StaffUser) -> bool:
    if staff.active:
        return False
    staff.active = True
    audit.record("staff.reactivated", actor=by, target_type="staff", target_id=staff.id,
                 details={"role": staff.role})
    return True


# --- review [TT-account-review] ------------------------------------------------------------


@dataclass
class StaffRow:
    staff: StaffUser
    last_active: datetime | None
    idle_days: int

    @property
    def two_factor(self) -> str:
        """"on"; "set-up pending" (the one-time link is unused); "enrolment pending" otherwise."""
        if self.staff.has_totp:
            return "on"
        return "set-up pending" if not self.staff.password_hash else "enrolment pending"


@dataclass
class StaffReview:
    as_of: datetime
    rows: list[StaffRow]

    @property
    def active(self) -> list[StaffRow]:
        return [r for r in self.rows if r.staff.active]

    @property
    def inactive_long(self) -> list[StaffRow]:
        return [r for r in self.active if r.idle_days >= account_review.LONG_IDLE_DAYS]

    @property
    def inactive_short(self) -> list[StaffRow]:
        return [r for r in self.active
                if account_review.SHORT_IDLE_DAYS <= r.idle_days < account_review.LONG_IDLE_DAYS]

    @property
    def without_2fa(self) -> list[StaffRow]:
        return [r for r in self.active if not r.staff.has_totp]

    @property
    def platform_admins(self) -> int:
        return sum(1 for r in self.active if r.staff.role == StaffRole.PLATFORM_ADMIN)


def _all_staff() -> list[StaffUser]:
    return list(db.session.execute(sa.select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)).scalars())


def review(as_of: datetime | None = None) -> StaffReview:
    """Every staff account with its last activity and idle days, as of `as_of` (now by default)."""
    as_of = as_of or clock.now()
    people = _all_staff()
    seen = account_review.last_activity(StaffUser, [s.id for s in people])
    return StaffReview(as_of, [StaffRow(s, seen.get(s.id), account_review.idle_days(seen.get(s.id), s.created_at,
                                                                                    as_of)) for s in people])


REVIEW_TARGET = "staff_review"


def monthly_review(as_of: datetime) -> int:
    """Sweep step: the month's staff review summary to every active platform admin, once a
    month; returns how many were told. The platform event recorded with it marks it done."""
    period = account_review.period_of(as_of)
    done = db.session.execute(sa.select(AuditEvent.id).where(
        AuditEvent.tenant_id.is_(None), AuditEvent.target_type == REVIEW_TARGET,
        AuditEvent.target_id == period).limit(1)).first()
    if done:
        return 0
    current = review(as_of)
    admins = [r.staff for r in current.active if r.staff.role == StaffRole.PLATFORM_ADMIN]
    # As for workspaces, the first review is for the month after the first staff account was made.
    if not current.rows or account_review.period_of(min(r.staff.created_at for r in current.rows)) >= period:
        return 0

    def listed(rows: list[StaffRow]) -> str:
        return "".join(f"  - {r.staff.email} ({r.staff.role}), {r.idle_days} days\n" for r in rows)

    short, long = account_review.SHORT_IDLE_DAYS, account_review.LONG_IDLE_DAYS
    body = (f"The staff account review for {period}:\n\n"
            f"- active staff accounts: {len(current.active)}, platform admins: {current.platform_admins}\n"
            f"- inactive for {long} days or more: {len(current.inactive_long)}\n{listed(current.inactive_long)}"
            f"- inactive for {short} to {long - 1} days: {len(current.inactive_short)}\n"
            f"{listed(current.inactive_short)}"
            f"- two-factor enrolment pending (staff always need it): {len(current.without_2fa)}\n"
            + "".join(f"  - {r.staff.email} ({r.staff.role}), {r.two_factor}\n" for r in current.without_2fa)
            + f"\nDeactivate the accounts no longer needed:\n"
              f"{current_app.extensions['tenantry.settings'].base_url}/admin/staff/\n")
    for admin in admins:
        notify.create("staff_review.monthly", recipient=admin, in_app=True,
                      subject=f"Monthly staff account review ({period})", body=body)
    audit.record("staff_review.generated", actor_type="system", target_type=REVIEW_TARGET, target_id=period,
                 details={"inactive_90": len(current.inactive_long), "inactive_30": len(current.inactive_short),
                          "without_2fa": len(current.without_2fa), "told": len(admins)})
    return len(admins)


def register_review(app) -> None:
    cron.register(app, "staff-review.monthly", monthly_review)


# --- pages -------------------------------------------------------------------------------


def _page(form: InviteForm, status: int = 200, link: str | None = None, role_errors: dict | None = None):
    current = review()
    return render_template("admin/staff.html", form=form, people=current.rows, review=current,
                           role_choices=ROLE_CHOICES, link=link, role_errors=role_errors or {},
                           short_days=account_review.SHORT_IDLE_DAYS, long_days=account_review.LONG_IDLE_DAYS), status


def _staff_or_404(staff_id: uuid.UUID) -> StaffUser:
    return db.session.get(StaffUser, staff_id) or abort(404)


@bp.get("/")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def index():
    return _page(InviteForm())


@bp.post("/")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def invite_view():
    form = InviteForm()
    if form.validate_on_submit():
        try:
            staff, link = invite(current_user, name=form.name.data, email=form.email.data, role=form.role.data)
        except StaffError as exc:
            db.session.rollback()
            form.email.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Staff account for {staff.email} created; the set-up link was e-mailed and is shown once below.",
                  "success")
            return _page(InviteForm(formdata=None), link=link)
    db.session.rollback()
    return _page(form, 422)


@bp.post("/<uuid:staff_id>/role")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def role_view(staff_id: uuid.UUID):
    staff = _staff_or_404(staff_id)
    form = RoleForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return _page(InviteForm(formdata=None), 422, role_errors={staff.id: "Choose one of the staff roles."})
    try:
        changed = change_role(current_user, staff, form.role.data)
    except StaffError as exc:
        db.session.rollback()
        return _page(InviteForm(formdata=None), 422, role_errors={staff.id: str(exc)})
    db.session.commit()
    if changed:
        flash(f"{staff.email} is now {staff.role}; their sessions were ended.", "success")
    return redirect(url_for("admin_staff.index"))


@bp.post("/<uuid:staff_id>/deactivate")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def deactivate_view(staff_id: uuid.UUID):
    staff = _staff_or_404(staff_id)
    try:
        changed = deactivate(current_user, staff)
    except StaffError as exc:
        db.session.rollback()
        return _page(InviteForm(formdata=None), 422, role_errors={staff.id: str(exc)})
    db.session.commit()
    if changed:
        flash(f"{staff.email} was deactivated and signed out everywhere.", "success")
    return redirect(url_for("admin_staff.index"))


@bp.post("/<uuid:staff_id>/reactivate")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def reactivate_view(staff_id: uuid.UUID):
    staff = _staff_or_404(staff_id)
    if reactivate(current_user, staff):
        db.session.commit()
        flash(f"{staff.email} can sign in again.", "success")
    return redirect(url_for("admin_staff.index"))
