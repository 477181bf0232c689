"""The tenant's side of incidents: its breach register, acknowledging notices, exporting its
entries, and reporting a breach of its own to the processor [DPA-3.3, DPA-4.3.7]."""

from __future__ import annotations

import uuid
from datetime import UTC

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant, current_tenant_id
from tenantry.platform.web import require_role, tenant_blueprint

from . import forms, service
from .models import Incident, IncidentTenant

bp = tenant_blueprint("incidents", __name__)


def _mine(incident_id: uuid.UUID) -> Incident:
    # The join row is scoped to the current tenant: another tenant's incident is not found.
    incident = db.session.execute(
        sa.select(Incident).join(IncidentTenant, IncidentTenant.incident_id == Incident.id)
        .where(Incident.id == incident_id)).scalar_one_or_none()
    if incident is None:
        abort(404)
    return incident


@bp.route("/incidents")
def index():
    incidents = list(db.session.execute(
        sa.select(Incident).join(IncidentTenant, IncidentTenant.incident_id == Incident.id)
        .order_by(Incident.aware_at.desc())).scalars())
    rows = []
    for incident in incidents:
        mine = service.tenant_notifications(incident.id, current_tenant_id())
        initial = [n for n, _note in mine if n.initial]
        awaiting = any(note.user_id == current_user.id and note.requires_ack and note.acknowledged_at is None
                       for _n, note in mine)
        rows.append({"incident": incident, "notified_at": initial[0].sent_at if initial else None,
                     "awaiting": awaiting})
    return render_template("incidents/tenant_index.html", rows=rows)


@bp.route("/incidents/<uuid:incident_id>")
def show(incident_id: uuid.UUID):
    incident = _mine(incident_id)
    mine = service.tenant_notifications(incident.id, current_tenant_id())
    awaiting = [note for _n, note in mine
                if note.user_id == current_user.id and note.requires_ack and note.acknowledged_at is None]
    acks = [note for _n, note in mine if note.acknowledged_at is not None]
    return render_template("incidents/tenant_show.html", incident=incident, mine=mine, awaiting=awaiting,
                           acks=acks, timeline=service.entries(incident.id, shared_only=True),
                           authority=service.authority(incident), form=forms.ButtonForm())


@bp.route("/incidents/<uuid:incident_id>/acknowledge", methods=["POST"])
def acknowledge(incident_id: uuid.UUID):
    incident = _mine(incident_id)
    form = forms.ButtonForm()
    if not form.validate_on_submit():
        abort(400)
    if service.acknowledge(incident.id, current_tenant_id(), current_user):
        db.session.commit()
        flash("Acknowledged. Thank you.", "success")
    else:
        flash("There was nothing left for you to acknowledge.", "info")
    return redirect(url_for("incidents.show", incident_id=incident.id))


def _export_name(ext: str) -> str:
    return f"breach-register-{current_tenant.slug}.{ext}"


@bp.route("/incidents/export.csv")
def export_csv():
    body = service.register_csv(service.register(tenant_id=current_tenant_id()))
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={_export_name('csv')}"})


@bp.route("/incidents/export.json")
def export_json():
    body = service.register_json(service.register(tenant_id=current_tenant_id()))
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename={_export_name('json')}"})


def details_from(form: forms.BreachFields) -> service.Details:
    def utc(value):
        return value.replace(tzinfo=UTC) if value is not None else None

    return service.Details(
        title=form.title.data.strip(), detected_at=utc(form.detected_at.data), aware_at=utc(form.aware_at.data),
        nature=list(form.nature.data or []), description=form.description.data or "",
        systems=form.systems.data or "", subject_categories=form.subject_categories.data or "",
        subjects_approx=form.subjects_approx.data, record_categories=form.record_categories.data or "",
        records_approx=form.records_approx.data, consequences=form.consequences.data or "",
        measures_taken=form.measures_taken.data or "", measures_proposed=form.measures_proposed.data or "",
        contact=form.contact.data.strip(),
    )


@bp.route("/incidents/report", methods=["GET", "POST"])
@require_role("member")
def report():
    form = forms.ReportForm()
    if not form.is_submitted():
        form.contact.data = current_tenant.privacy_contact_email or current_user.email
    if form.validate_on_submit():
        try:
            incident = service.report_by_tenant(details_from(form), tenant=current_tenant, user=current_user)
        except service.IncidentError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash("Your report reached our DPO. We answer within 48 hours.", "success")
            return redirect(url_for("incidents.show", incident_id=incident.id))
    return render_template("incidents/tenant_report.html", form=form), 422 if form.errors else 200
