"""Export pages of a tenant: start a full export, watch its progress, download it for 7 days."""

from __future__ import annotations

import uuid

from flask import Response, abort, flash, redirect, render_template, stream_with_context, url_for
from flask_login import current_user

from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.tenancy import current_tenant
from tenantry.platform.web import require_role, tenant_blueprint

from . import export as exports
from .export_models import DONE, FAILED

bp = tenant_blueprint("exports", __name__)


class StartExportForm(Form):
    """Nothing to fill in: the form carries the CSRF token of the button."""


def _export_or_404(export_id: uuid.UUID):
    found = exports.get(export_id)  # scoped to the current tenant: another tenant's id is not found
    if found is None:
        abort(404)
    return found


@bp.get("/exports")
@require_role("admin")
def index():
    return render_template("tenants/exports.html", form=StartExportForm(), items=exports.recent(),
                           download_days=exports.DOWNLOAD_DAYS)


@bp.post("/exports")
@require_role("admin")
def start():
    form = StartExportForm()
    if not form.validate_on_submit():
        return render_template("tenants/exports.html", form=form, items=exports.recent(),
                               download_days=exports.DOWNLOAD_DAYS), 422
    started = exports.request(requested_by=current_user)
    db.session.commit()
    flash("Export started. This page shows its progress.", "success")
    return redirect(url_for("exports.show", export_id=started.id))


@bp.get("/exports/<uuid:export_id>")
@require_role("admin")
def show(export_id: uuid.UUID):
    item = _export_or_404(export_id)
    return render_template("tenants/export.html", item=item, DONE=DONE, FAILED=FAILED, download_days=exports.DOWNLOAD_DAYS,
                           refresh=item.status not in (DONE, FAILED))


@bp.get("/exports/<uuid:export_id>/download")
@require_role("admin")
def download(export_id: uuid.UUID):
    item = _export_or_404(export_id)
    try:
        chunks = exports.download(item, actor=current_user)
    except exports.NotAvailable:
        abort(410, "This export is not available for download: it is not finished, or its "
                   f"{exports.DOWNLOAD_DAYS} days are over. Start a new one.")
    name = exports.filename(item, current_tenant)
    db.session.commit()  # the audited read is recorded before the first byte leaves
    return Response(stream_with_context(chunks), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
