"""The operator's console. Staff only, two-factor always; the full console comes with its issue."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template
from flask_login import current_user

from tenantry.admin.access import staff_blueprint
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffRole, StaffUser
from tenantry.platform.tenancy import Tenant

bp = staff_blueprint("admin", __name__)


@bp.route("/")
def dashboard():
    counts = dict(db.session.execute(sa.select(Tenant.status, sa.func.count()).group_by(Tenant.status)).all())
    staff = []
    if current_user.role == StaffRole.PLATFORM_ADMIN:
        staff = list(db.session.execute(sa.select(StaffUser).order_by(StaffUser.email)).scalars())
    from tenantry.admin.notices import unread_count

    return render_template("admin/dashboard.html", counts=counts, staff=staff,
                           unread_notices=unread_count(current_user.id))
