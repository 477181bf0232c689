"""The operator's console. Staff only, two-factor always; the full console comes with its issue."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffRole, StaffUser
from tenantry.platform.tenancy import Tenant

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _staff_only():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.staff_login", next=request.full_path.rstrip("?")))
    if not current_user.is_staff:
        abort(404)
    if not current_user.has_totp:
        return redirect(url_for("auth.enrol_2fa", required=1, next=request.full_path.rstrip("?")))
    return None


@bp.route("/")
def dashboard():
    counts = dict(db.session.execute(sa.select(Tenant.status, sa.func.count()).group_by(Tenant.status)).all())
    staff = []
    if current_user.role == StaffRole.PLATFORM_ADMIN:
        staff = list(db.session.execute(sa.select(StaffUser).order_by(StaffUser.email)).scalars())
    return render_template("admin/dashboard.html", counts=counts, staff=staff)
