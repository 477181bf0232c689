"""The operator's console: the dashboard and a navigation that shows each staff role only the
pages it may open [TT-least-privilege]. Staff see no tenant personal data here; support reaches
a workspace only through a tenant's grant [DPA-4.1, DPA-4.3.2]."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, current_app, render_template, request
from flask_login import current_user

from tenantry.admin.access import staff_blueprint
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffRole
from tenantry.platform.tenancy import Tenant

bp = staff_blueprint("admin", __name__)

ADMIN, DPO, SUPPORT = StaffRole.PLATFORM_ADMIN.value, StaffRole.DPO.value, StaffRole.SUPPORT.value

# (endpoint, label, roles that see the link). The roles match each page's own check; a page
# whose area is not installed (its endpoint is missing) is left out.
STAFF_NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("admin.dashboard", "Console", (ADMIN, DPO, SUPPORT)),
    ("admin_tenants.index", "Tenants", (ADMIN, SUPPORT)),
    ("admin_staff.index", "Staff", (ADMIN,)),
    ("staff_registry.agreement", "Agreement versions", (ADMIN,)),
    ("staff_registry.subprocessors", "Subprocessors", (ADMIN,)),
    ("admin_duties.audits_index", "Audits", (ADMIN, DPO)),
    ("admin_duties.inspections_index", "Inspections", (ADMIN, DPO)),
    ("admin_duties.cooperation_index", "Cooperation requests", (ADMIN, DPO)),
    ("incident_desk.desk", "Incidents", (DPO, ADMIN)),
    ("incident_desk.register_csv", "Breach register (CSV)", (DPO, ADMIN)),
    ("admin_jobs.index", "Jobs and notices", (ADMIN,)),
    ("security.index", "Security", (ADMIN, DPO)),
    ("staff_notices.index", "Your notices", (ADMIN, DPO, SUPPORT)),
]


def add_staff_nav(endpoint: str, label: str, roles: tuple[str, ...]) -> None:
    """For other staff areas: a console link shown to `roles` (their page checks the same)."""
    if not any(item[0] == endpoint for item in STAFF_NAV):
        STAFF_NAV.insert(len(STAFF_NAV) - 1, (endpoint, label, tuple(roles)))


def nav_for(role: str) -> list[tuple[str, str]]:
    views = current_app.view_functions
    return [(endpoint, label) for endpoint, label, roles in STAFF_NAV if role in roles and endpoint in views]


@bp.route("/")
def dashboard():
    counts = dict(db.session.execute(sa.select(Tenant.status, sa.func.count()).group_by(Tenant.status)).all())
    from tenantry.admin.notices import unread_count
    from tenantry.tenants import support_grants

    return render_template("admin/dashboard.html", counts=counts, unread_notices=unread_count(current_user.id),
                           granted=support_grants.granted_tenants(current_user))


def init_app(app: Flask) -> None:
    @app.context_processor
    def _staff_nav():
        if not request.path.startswith("/admin") or not getattr(current_user, "is_staff", False):
            return {}
        return {"staff_nav": nav_for(current_user.role)}
