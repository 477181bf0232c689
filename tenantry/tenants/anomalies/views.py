"""The workspace's alerts and their thresholds, for its owners and admins."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Role, User
from tenantry.platform.tenancy import all_tenants, current_tenant_id
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants.anomalies import rules
from tenantry.tenants.anomalies.forms import AlertSettingsForm, ResolveForm
from tenantry.tenants.anomalies.models import Alert, AlertSettings

bp = tenant_blueprint("anomalies", __name__)

THRESHOLDS = ("mass_read_enabled", "mass_read_threshold", "export_enabled", "new_ip_enabled",
              "failed_logins_enabled", "failed_logins_threshold", "api_volume_enabled",
              "api_volume_multiplier", "api_volume_min_baseline")
LIST_LIMIT = 200


def _names(alerts: list[Alert]) -> dict[str, str]:
    ids = {uuid.UUID(a.subject_id) for a in alerts if a.subject_type == "user"}
    ids |= {a.resolved_by_user_id for a in alerts if a.resolved_by_user_id}
    if not ids:
        return {}
    with all_tenants():
        users = db.session.execute(sa.select(User).where(User.id.in_(ids))).scalars()
        return {str(u.id): u.display_name for u in users}


def _page(form: AlertSettingsForm, status: int = 200):
    alerts = list(db.session.execute(
        sa.select(Alert).order_by((Alert.status == "open").desc(), Alert.last_seen_at.desc(), Alert.id)
        .limit(LIST_LIMIT)).scalars())
    return render_template("tenants/alerts.html", form=form, alerts=alerts, names=_names(alerts),
                           describe=rules.describe, resolve_form=ResolveForm(),
                           open_count=sum(a.status == "open" for a in alerts)), status


@bp.route("/settings/alerts", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def settings():
    current = rules.settings_for(current_tenant_id())
    form = AlertSettingsForm(obj=current)
    if not form.validate_on_submit():
        return _page(form, 422 if form.errors else 200)
    row = db.session.get(AlertSettings, current_tenant_id())
    if row is None:
        row = current
        db.session.add(row)
    before = {k: getattr(row, k) for k in THRESHOLDS}
    form.populate_obj(row)
    after = {k: getattr(row, k) for k in THRESHOLDS}
    changed = {k: {"from": before[k], "to": after[k]} for k in THRESHOLDS if before[k] != after[k]}
    if changed:
        audit.record("security.alert-settings.changed", actor=current_user, tenant_id=current_tenant_id(),
                     target_type="anomaly_settings", target_id=current_tenant_id(), details=changed)
    db.session.commit()
    flash("Alert thresholds saved.", "success")
    return redirect(url_for("anomalies.settings"))


@bp.route("/settings/alerts/<uuid:alert_id>/resolve", methods=["POST"])
@require_role(Role.ADMIN)
def resolve(alert_id: uuid.UUID):
    alert = db.session.execute(sa.select(Alert).where(Alert.id == alert_id)).scalar_one_or_none()
    if alert is None:
        abort(404)
    if not ResolveForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    if alert.status == "open":
        alert.status = "resolved"
        alert.resolved_at = clock.now()
        alert.resolved_by_user_id = current_user.id
        audit.record("security.alert.resolved", actor=current_user, tenant_id=alert.tenant_id,
                     target_type="anomaly_alert", target_id=alert.id, details={"rule": alert.rule})
        db.session.commit()
        flash("Alert marked as resolved.", "success")
    return redirect(url_for("anomalies.settings"))
