"""The owner's pages: cancel, reactivate, ask for backed-up data, ask for early deletion."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.identity import passwords, totp
from tenantry.platform.identity.models import Role
from tenantry.platform.tenancy import TenantStatus, current_tenant
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants.lifecycle import backup_requests, cancellation, deletion_requests
from tenantry.tenants.lifecycle import cancel_forms as forms

bp = tenant_blueprint("lifecycle", __name__)


def _identity_confirmed(form, action: str) -> bool:
    """Password and a current TOTP code again, as for replacing an authenticator; a failure is
    audited and counts towards the two-factor lock-out."""
    ok = True
    if not passwords.verify_password(current_user.password_hash, form.password.data or ""):
        form.password.errors.append("Your password is not right.")
        ok = False
    result = totp.verify(current_user, form.code.data or "", allow_recovery=False)
    if result != totp.Result.OK:
        form.code.errors.append("Two-factor is locked for 15 minutes." if result == totp.Result.LOCKED
                                else "That code does not match. Enter the current code from your app.")
        ok = False
    if not ok:
        audit.record(action, actor=current_user, tenant_id=current_tenant.id, target_type="tenant",
                     target_id=current_tenant.id, outcome="failure")
        db.session.commit()  # the failure and the counter stay; nothing else was changed
    return ok


def _page(cancel_form=None, reactivate_form=None, backup_form=None, status: int = 200):
    tenant = current_tenant._get_current_object()
    cancelled = tenant.status == TenantStatus.CANCELLED
    return render_template(
        "tenants/cancel_status.html" if cancelled else "tenants/cancel.html",
        tenant=tenant,
        form=cancel_form or forms.CancelForm(),
        reactivate_form=reactivate_form or forms.ReactivateForm(prefix="reactivate"),
        backup_form=backup_form or forms.BackupRequestForm(prefix="backup"),
        days_left=cancellation.days_left(tenant),
        deletion_preview=clock.now() + cancellation.deletion_delay(),
        has_totp=current_user.has_totp,
        deletion_request=deletion_requests.pending(tenant) if cancelled else None,
        backup_requests=backup_requests.for_tenant(tenant) if cancelled else [],
    ), status


@bp.route("/settings/cancel", methods=["GET", "POST"])
@require_role(Role.OWNER)
def cancel():
    tenant = current_tenant._get_current_object()
    form = forms.CancelForm()
    if tenant.status != TenantStatus.ACTIVE:
        return _page()
    if form.validate_on_submit() and current_user.has_totp and _identity_confirmed(form, "tenant.cancel"):
        try:
            row = cancellation.cancel(tenant, actor=current_user, channel="owner")
        except cancellation.LifecycleError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("lifecycle.cancel"))
        db.session.commit()
        flash(f"The workspace is cancelled and read-only. It will be deleted on {row.deletion_due_at:%Y-%m-%d}.",
              "info")
        return redirect(url_for("lifecycle.cancel"))
    return _page(cancel_form=form, status=422 if form.errors else 200)


@bp.route("/settings/cancel/reactivate", methods=["POST"])
@require_role(Role.OWNER)
def reactivate():
    tenant = current_tenant._get_current_object()
    form = forms.ReactivateForm(prefix="reactivate")
    if tenant.status != TenantStatus.CANCELLED:
        return redirect(url_for("lifecycle.cancel"))
    if form.validate_on_submit() and current_user.has_totp and _identity_confirmed(form, "tenant.reactivate"):
        try:
            cancellation.reactivate(tenant, actor=current_user)
        except cancellation.LifecycleError as exc:
            db.session.rollback()
            form.password.errors.append(str(exc))
        else:
            db.session.commit()
            flash("The workspace is active again and will not be deleted.", "success")
            return redirect(url_for("lifecycle.cancel"))
    return _page(reactivate_form=form, status=422)


@bp.route("/settings/cancel/backup-request", methods=["POST"])
@require_role(Role.OWNER)
def backup_request():
    tenant = current_tenant._get_current_object()
    form = forms.BackupRequestForm(prefix="backup")
    if tenant.status != TenantStatus.CANCELLED:
        return redirect(url_for("lifecycle.cancel"))
    if form.validate_on_submit():
        backup_requests.request_backup_data(tenant, actor=current_user, note=form.note.data)
        db.session.commit()
        flash("Your request is recorded. Our staff will prepare an export from the backups and tell you.", "success")
        return redirect(url_for("lifecycle.cancel"))
    return _page(backup_form=form, status=422)


@bp.route("/settings/deletion", methods=["GET", "POST"])
@require_role(Role.OWNER)
def deletion():
    tenant = current_tenant._get_current_object()
    form = forms.DeletionRequestForm()
    existing = deletion_requests.pending(tenant)
    if existing is None and form.validate_on_submit() and current_user.has_totp \
            and _identity_confirmed(form, "tenant.deletion-request"):
        try:
            row = deletion_requests.request_deletion(tenant, actor=current_user)
        except cancellation.LifecycleError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Early deletion is scheduled for {row.scheduled_for:%Y-%m-%d %H:%M} UTC.", "info")
        return redirect(url_for("lifecycle.deletion"))
    return render_template("tenants/deletion_request.html", tenant=tenant, form=form, existing=existing,
                           has_totp=current_user.has_totp,
                           working_days=deletion_requests.WORKING_DAYS), 422 if form.errors else 200
