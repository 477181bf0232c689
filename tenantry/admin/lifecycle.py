"""The console's view of tenants' lifecycles (platform admins): cancelled tenants counting down
to deletion, owners' requests for backed-up data and how staff fulfil them, early deletion filed
on an owner's written request, and the tombstones of deleted tenants."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from tenantry.admin import views
from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants
from tenantry.tenants.lifecycle import backup_requests, backups, cancellation, deletion_requests
from tenantry.tenants.lifecycle.cancel_models import Tombstone

bp = staff_blueprint("lifecycle_admin", __name__, url_prefix="/admin/lifecycle")
ADMIN = "platform-admin"
views.add_staff_nav("lifecycle_admin.index", "Cancellations and deletions", (ADMIN,))


class FulfilForm(Form):
    backup = SelectField("Backup to export from", validators=[DataRequired(message="Choose a backup.")])


class ExpediteForm(Form):
    reference = StringField("The owner's written request (ticket or letter reference)",
                            validators=[DataRequired(message="Name the written request."), Length(max=120)])


def _tenant_or_404(tenant_id: uuid.UUID) -> Tenant:
    with all_tenants():
        tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        abort(404)
    return tenant


@bp.route("/")
@require_staff_role(ADMIN)
def index():
    with all_tenants():
        cancelled = list(db.session.execute(
            sa.select(Tenant).where(Tenant.status == TenantStatus.CANCELLED.value).order_by(Tenant.deletion_due_at)
        ).scalars())
        stones = list(db.session.execute(
            sa.select(Tombstone).order_by(Tombstone.purge_started_at.desc()).limit(100)).scalars())
    return render_template("admin/lifecycle.html", cancelled=cancelled, stones=stones,
                           requests=backup_requests.open_requests(), days_left=cancellation.days_left,
                           expedited={t.id: deletion_requests.pending(t) for t in cancelled})


def _choices(tenant: Tenant) -> list[tuple[str, str]]:
    return [(str(b.id), f"{b.day:%Y-%m-%d} ({b.size_bytes or 0} bytes)") for b in backups.available(tenant)]


@bp.route("/backup-requests/<uuid:request_id>", methods=["GET", "POST"])
@require_staff_role(ADMIN)
def backup_request(request_id: uuid.UUID):
    found = backup_requests.get(request_id)
    if found is None:
        abort(404)
    row, tenant = found
    form = FulfilForm()
    form.backup.choices = _choices(tenant)
    if row.status == "open" and form.validate_on_submit():
        try:
            backup_requests.fulfil(row, tenant, backup_ref=form.backup.data, staff=current_user)
        except cancellation.LifecycleError as exc:
            db.session.rollback()
            # The rollback expired the request row: reload it (across tenants) before the page reads it.
            row, tenant = backup_requests.get(request_id)
            form.backup.errors.append(str(exc))
        else:
            db.session.commit()
            flash("The export from the backup is being built; the owners were told.", "success")
            return redirect(url_for("lifecycle_admin.index"))
    return render_template("admin/lifecycle_request.html", row=row, tenant=tenant, form=form,
                           days_left=cancellation.days_left(tenant)), 422 if form.errors else 200


@bp.route("/tenants/<uuid:tenant_id>/expedite", methods=["GET", "POST"])
@require_staff_role(ADMIN)
def expedite(tenant_id: uuid.UUID):
    tenant = _tenant_or_404(tenant_id)
    form = ExpediteForm()
    existing = deletion_requests.pending(tenant) if tenant.status != TenantStatus.DELETED else None
    if existing is None and tenant.status != TenantStatus.DELETED and form.validate_on_submit():
        try:
            row = deletion_requests.request_deletion(tenant, actor=current_user, reference=form.reference.data.strip())
        except cancellation.LifecycleError as exc:
            db.session.rollback()
            form.reference.errors.append(str(exc))
        else:
            when = row.scheduled_for
            db.session.commit()
            flash(f"Deletion of {tenant.slug} is scheduled for {when:%Y-%m-%d %H:%M} UTC; the owners were told.",
                  "success")
            return redirect(url_for("lifecycle_admin.index"))
    return render_template("admin/lifecycle_expedite.html", tenant=tenant, form=form, existing=existing,
                           working_days=deletion_requests.WORKING_DAYS), 422 if form.errors else 200
