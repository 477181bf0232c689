"""The staff security dashboard: open anomaly alerts across tenants and alerts about staff
accounts. Tenant alerts show the tenant, the rule, when and the counts, never who (a member's
name is the tenant's personal data) [DPA-4.1, TT-activity-log]."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.platform import audit, clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.identity.models import StaffRole, StaffUser
from tenantry.platform.tenancy import Tenant, all_tenants
from tenantry.tenants.anomalies.models import RULE_LABELS, Alert, Rule, StaffAlert

bp = staff_blueprint("security", __name__, url_prefix="/admin/security")

VIEWERS = (StaffRole.PLATFORM_ADMIN.value, StaffRole.DPO.value)
LIST_LIMIT = 200


class ResolveForm(Form):
    """CSRF only."""


def _open_tenant_alerts():
    with all_tenants():
        return list(db.session.execute(
            sa.select(Alert.id, Alert.rule, Alert.subject_type, Alert.first_seen_at, Alert.last_seen_at,
                      Alert.observed, Alert.threshold, Alert.events, Tenant.slug)
            .join(Tenant, Tenant.id == Alert.tenant_id)
            .where(Alert.status == "open")
            .order_by(Alert.last_seen_at.desc(), Alert.id).limit(LIST_LIMIT)
        ).all())


def _counts_by_rule(since):
    with all_tenants():
        rows = db.session.execute(
            sa.select(Alert.rule, sa.func.count()).where(Alert.created_at >= since).group_by(Alert.rule)).all()
    return {rule: count for rule, count in rows}


@bp.route("/")
@require_staff_role(*VIEWERS)
def index():
    now = clock.now()
    staff_alerts = list(db.session.execute(
        sa.select(StaffAlert, StaffUser.email).join(StaffUser, StaffUser.id == StaffAlert.staff_id)
        .order_by((StaffAlert.status == "open").desc(), StaffAlert.last_seen_at.desc()).limit(LIST_LIMIT)).all())
    failed_staff = db.session.execute(
        sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id.is_(None), AuditEvent.actor_type == "staff", AuditEvent.outcome == "failure",
            AuditEvent.action.in_(("auth.staff.login", "auth.2fa.verify")),
            AuditEvent.occurred_at >= now - timedelta(hours=24))).scalar_one()
    return render_template(
        "admin/security.html", tenant_alerts=_open_tenant_alerts(), staff_alerts=staff_alerts,
        week=_counts_by_rule(now - timedelta(days=7)), labels={r.value: RULE_LABELS[r] for r in Rule},
        failed_staff=failed_staff, resolve_form=ResolveForm(),
        can_resolve=current_user.role == StaffRole.PLATFORM_ADMIN.value)


@bp.route("/staff-alerts/<uuid:alert_id>/resolve", methods=["POST"])
@require_staff_role(StaffRole.PLATFORM_ADMIN.value)
def resolve_staff_alert(alert_id: uuid.UUID):
    alert = db.session.get(StaffAlert, alert_id)
    if alert is None:
        abort(404)
    if alert.status == "open":
        alert.status = "resolved"
        alert.resolved_at = clock.now()
        alert.resolved_by_staff_id = current_user.id
        audit.record("security.staff-alert.resolved", actor=current_user, target_type="staff_alert",
                     target_id=alert.id, details={"rule": alert.rule})
        db.session.commit()
        flash("Alert marked as resolved.", "success")
    return redirect(url_for("security.index"))
