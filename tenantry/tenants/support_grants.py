"""Support access that a tenant grants [DPA-4.1, DPA-4.3.2, DPA-4.5, TT-least-privilege].

Staff never see a tenant's workspace on their own: an owner or admin grants one named support
person access for a ticket, read-only or read-write, for at most 72 hours, and may revoke it
at once. The platform asks `staff_access` on every request under /t/<slug>/, so expiry and
revocation end access in the middle of a session. Every request made under a grant, and
every audit event written while it is served, lands in the tenant's audit trail marked with
the grant and the ticket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import IntegerField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

from tenantry.platform import audit, clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db, new_id
from tenantry.platform.forms import Form
from tenantry.platform.identity.models import Role, StaffRole, StaffUser
from tenantry.platform.tenancy import Tenant, TenantScoped, all_tenants, current_tenant
from tenantry.platform.web import require_role, tenant_blueprint

MAX_HOURS = 72
READ_ONLY = "read-only"
READ_WRITE = "read-write"
SCOPES = (READ_ONLY, READ_WRITE)
# A grant never reaches owner/admin pages: read-write works like a member, read-only like a viewer.
SCOPE_ROLE = {READ_ONLY: Role.VIEWER.value, READ_WRITE: Role.MEMBER.value}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SupportGrant(TenantScoped, db.Model):
    __tablename__ = "support_grants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    ticket_ref: Mapped[str] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(10))
    granted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("scope in ('read-only', 'read-write')", name="scope"),
        sa.CheckConstraint("expires_at > created_at", name="expires_after_created"),
    )

    staff = db.relationship(StaffUser, lazy="joined")

    def is_live(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or clock.now())

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_live() else "expired"


class GrantError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SupportMembership:
    """What a support person is in a workspace while a grant lasts: a membership-like object
    (role, can()) that templates and `require_role` read like a member's."""

    grant_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    scope: str
    ticket_ref: str
    user_id: None = None
    is_support: bool = True

    @property
    def id(self) -> uuid.UUID:
        return self.grant_id

    def can(self, needed: Role | str) -> bool:
        from tenantry.platform.identity.models import ROLE_RANK

        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(needed)]


# --- service -----------------------------------------------------------------------------


def support_staff() -> list[StaffUser]:
    """The people a tenant may choose from: active support staff with two-factor on."""
    rows = db.session.execute(
        sa.select(StaffUser).where(StaffUser.role == StaffRole.SUPPORT.value, StaffUser.active.is_(True),
                                   StaffUser.totp_enabled_at.is_not(None))
        .order_by(StaffUser.name, StaffUser.email)
    ).scalars()
    return list(rows)


def grant(by_user, *, staff_id: uuid.UUID, ticket_ref: str, scope: str, hours: int) -> SupportGrant:
    """Grant access in the current tenant; the caller commits."""
    if scope not in SCOPES:
        raise GrantError("scope", "Choose read-only or read-write.")
    if not 1 <= hours <= MAX_HOURS:
        raise GrantError("hours", f"Access lasts from 1 to {MAX_HOURS} hours.")
    staff = db.session.get(StaffUser, staff_id)
    if staff is None or staff not in support_staff():
        raise GrantError("staff", "Choose a person from the support team.")
    ticket_ref = ticket_ref.strip()
    if not ticket_ref:
        raise GrantError("ticket_ref", "Give the ticket reference.")
    now = clock.now()
    row = SupportGrant(id=new_id(), staff_id=staff.id, ticket_ref=ticket_ref, scope=scope,
                       granted_by_user_id=by_user.id, created_at=now, expires_at=now + timedelta(hours=hours))
    db.session.add(row)
    audit.record("support.granted", actor=by_user, tenant_id=current_tenant.id, target_type="support_grant",
                 target_id=row.id, details={"staff_id": str(staff.id), "ticket": ticket_ref, "scope": scope,
                                            "hours": hours})
    return row


def revoke(row: SupportGrant, by_user) -> bool:
    """End a grant now. False when it had already ended (nothing to do)."""
    if not row.is_live():
        return False
    row.revoked_at = clock.now()
    row.revoked_by_user_id = by_user.id
    audit.record("support.revoked", actor=by_user, tenant_id=row.tenant_id, target_type="support_grant",
                 target_id=row.id, details={"staff_id": str(row.staff_id), "ticket": row.ticket_ref})
    return True


def grants() -> list[SupportGrant]:
    return list(db.session.execute(sa.select(SupportGrant).order_by(SupportGrant.created_at.desc())).scalars())


def get(grant_id: uuid.UUID) -> SupportGrant | None:
    return db.session.execute(sa.select(SupportGrant).where(SupportGrant.id == grant_id)).scalar_one_or_none()


def live_grant(staff, tenant_id: uuid.UUID) -> SupportGrant | None:
    """The staff member's live grant in the current tenant (the newest, when several overlap)."""
    if getattr(staff, "role", None) != StaffRole.SUPPORT.value or not staff.active or not staff.has_totp:
        return None
    now = clock.now()
    return db.session.execute(
        sa.select(SupportGrant)
        .where(SupportGrant.tenant_id == tenant_id, SupportGrant.staff_id == staff.id,
               SupportGrant.revoked_at.is_(None), SupportGrant.expires_at > now)
        .order_by(SupportGrant.expires_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def granted_tenants(staff) -> list[tuple[Tenant, SupportGrant]]:
    """Tenants whose live grant names this staff member (the console's list for support)."""
    if staff.role != StaffRole.SUPPORT.value:
        return []
    with all_tenants():
        rows = db.session.execute(
            sa.select(Tenant, SupportGrant).join(SupportGrant, SupportGrant.tenant_id == Tenant.id)
            .where(SupportGrant.staff_id == staff.id, SupportGrant.revoked_at.is_(None),
                   SupportGrant.expires_at > clock.now(), Tenant.status != "deleted")
            .order_by(Tenant.name, SupportGrant.expires_at.desc())
        ).all()
    seen, result = set(), []
    for tenant, row in rows:
        if tenant.id not in seen:
            seen.add(tenant.id)
            result.append((tenant, row))
    return result


def staff_access(staff, tenant: Tenant) -> SupportMembership | None:
    """The platform's hook for staff under /t/<slug>/ (the tenant is already current)."""
    row = live_grant(staff, tenant.id)
    if row is None:
        return None
    g.support_grant = {"support_grant": str(row.id), "ticket": row.ticket_ref, "scope": row.scope}
    return SupportMembership(grant_id=row.id, tenant_id=row.tenant_id, role=SCOPE_ROLE[row.scope],
                             scope=row.scope, ticket_ref=row.ticket_ref)


def read_only_gate(tenant, membership):
    """A read-only grant changes nothing, whatever the page would let a viewer do."""
    if isinstance(membership, SupportMembership) and membership.scope == READ_ONLY \
            and request.method not in SAFE_METHODS:
        abort(403, "This support access is read-only.")
    return None


def _mark_support_events(target, args, kwargs):
    # Events written while a support request is served (by any service) carry the grant, so
    # the tenant's trail shows every action taken under it as support access.
    if not has_request_context():
        return
    marks = g.get("support_grant")
    if marks and kwargs.get("tenant_id") is not None:
        kwargs["details"] = {**(kwargs.get("details") or {}), "support_grant": marks["support_grant"],
                             "ticket": marks["ticket"]}


def _record_support_request(response):
    """One tenant audit event per request made under a grant: pages seen and actions tried.

    It joins the request's batch of read events, which the audit trail writes once the
    response is ready, or withholds the response when it cannot (nothing seen unrecorded)."""
    marks = g.get("support_grant")
    membership = g.get("membership")
    if not marks or not isinstance(membership, SupportMembership):
        return response
    records = {k: str(v) for k, v in (request.view_args or {}).items() if isinstance(v, uuid.UUID)}
    details = {"endpoint": request.endpoint, "method": request.method, "status": response.status_code,
               "scope": marks["scope"]}
    if records:
        details["records"] = records
    event = audit.record_read("support.page_viewed" if request.method in SAFE_METHODS else "support.request",
                              actor=current_user, tenant_id=membership.tenant_id, target_type="support_grant",
                              target_ids=[membership.grant_id], details=details)
    if response.status_code >= 400 and event is not None:
        event.outcome = "failure"
    if not current_app.extensions.get("tenantry.audit_batching"):
        db.session.commit()
    return response


# --- pages -------------------------------------------------------------------------------


class GrantForm(Form):
    staff = SelectField("Support person", validators=[DataRequired(message="Choose a person from the support team.")])
    ticket_ref = StringField("Ticket reference", validators=[
        DataRequired(message="Give the ticket reference."), Length(max=64),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9._#/-]*$", message="Use letters, digits and . _ # / - only."),
    ])
    scope = RadioField("Access", choices=[(READ_ONLY, "Read-only: sees records, changes nothing"),
                                          (READ_WRITE, "Read-write: may also edit records")],
                       default=READ_ONLY, validators=[DataRequired(message="Choose read-only or read-write.")])
    hours = IntegerField("Access lasts (hours)", default=24, validators=[
        InputRequired(message="Give how many hours access lasts."),
        NumberRange(min=1, max=MAX_HOURS, message=f"Access lasts from 1 to {MAX_HOURS} hours."),
    ])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.staff.choices = [("", "Choose…")] + [(str(s.id), s.display_name) for s in support_staff()]


bp = tenant_blueprint("support", __name__)


def _page(form: GrantForm, status: int = 200):
    return render_template("tenants/support.html", form=form, grants=grants(), max_hours=MAX_HOURS), status


@bp.get("/settings/support")
@require_role(Role.ADMIN)
def index():
    return _page(GrantForm())


@bp.post("/settings/support")
@require_role(Role.ADMIN)
def create():
    form = GrantForm()
    if form.validate_on_submit():
        try:
            row = grant(current_user, staff_id=uuid.UUID(form.staff.data), ticket_ref=form.ticket_ref.data,
                        scope=form.scope.data, hours=form.hours.data)
        except GrantError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"{row.staff.display_name} has {row.scope} access until "
                  f"{row.expires_at.strftime('%Y-%m-%d %H:%M')} UTC.", "success")
            return redirect(url_for("support.index"))
    db.session.rollback()
    return _page(form, 422)


@bp.post("/settings/support/<uuid:support_grant_id>/revoke")
@require_role(Role.ADMIN)
def revoke_view(support_grant_id: uuid.UUID):
    row = get(support_grant_id) or abort(404)
    if revoke(row, current_user):
        db.session.commit()
        flash("Support access revoked. It ended at once.", "success")
    else:
        flash("That access had already ended.", "info")
    return redirect(url_for("support.index"))


def init_app(app: Flask) -> None:
    from tenantry.platform.web import add_tenant_gate, add_tenant_nav

    app.register_blueprint(bp)
    app.extensions["tenantry.staff_tenant_access"] = staff_access
    add_tenant_gate(app, read_only_gate)
    add_tenant_nav(app, "support.index", "Support access", role="admin", order=94)
    app.after_request(_record_support_request)
    if not sa.event.contains(AuditEvent, "init", _mark_support_events):
        sa.event.listen(AuditEvent, "init", _mark_support_events)

