"""The DPO desk: open incidents with their countdowns, logging, notifying tenants, follow-ups,
the timeline, and the whole breach register as CSV or JSON [DPA-4.3.6, DPA-4.3.7].

The DPO logs and notifies; platform admins see the desk too [TT-least-privilege]."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.dpa.incidents import forms, service, systems
from tenantry.dpa.incidents.models import EntryKind, Incident, Scope
from tenantry.dpa.incidents.views import details_from
from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants

bp = staff_blueprint("incident_desk", __name__, url_prefix="/admin/incidents")

VIEW = ("dpo", "platform-admin")
ACT = ("dpo",)


def _incident(incident_id: uuid.UUID) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    return incident


@bp.route("/")
@require_staff_role(*VIEW)
def desk():
    rows = []
    for incident in service.open_incidents():
        rows.append({"incident": incident, "deadlines": service.deadlines(incident),
                     "unnotified": len(service.unnotified_tenant_ids(incident.id)),
                     "affected": len(service.affected(incident.id))})
    closed = db.session.execute(sa.select(sa.func.count()).select_from(Incident)).scalar_one() - len(rows)
    return render_template("incidents/desk.html", rows=rows, closed=closed, now=clock.now(),
                           duration=service.duration)


def _tenant_choices():
    with all_tenants():
        return [(str(t.id), f"{t.name} ({t.slug})") for t in service.active_tenants()]


@bp.route("/new", methods=["GET", "POST"])
@require_staff_role(*ACT)
def new():
    form = forms.IncidentForm()
    form.tenants.choices = _tenant_choices()
    form.subprocessors.choices = service.subprocessor_choices()
    form.scope_detail.choices = [("", "(not a system incident)"), *systems.choices()]
    if not form.is_submitted():
        form.contact.data = f"{current_user.display_name}, Data Protection Officer <{current_user.email}>"
    if form.validate_on_submit():
        details = details_from(form)
        details.severity_dpc = int(form.severity_dpc.data) if form.severity_dpc.data else None
        details.severity_ei = float(form.severity_ei.data) if form.severity_ei.data else None
        details.severity_cb = form.severity_cb.data if details.severity_dpc is not None else None
        if details.severity_dpc is not None and details.severity_cb is None:
            details.severity_cb = 0.0
        details.severity_justification = form.severity_justification.data or ""
        target = form.solution_target_at.data
        details.solution_target_at = target.replace(tzinfo=UTC) if target else None
        details.solution_target_reason = form.solution_target_reason.data or ""
        try:
            incident = service.log_incident(details, staff=current_user, scope=Scope(form.scope.data),
                                            tenant_ids=[uuid.UUID(t) for t in form.tenants.data or []],
                                            scope_detail=form.scope_detail.data or "",
                                            subprocessor_ids=[uuid.UUID(s) for s in form.subprocessors.data or []])
        except service.IncidentError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash("Incident logged. The clock runs from awareness.", "success")
            return redirect(url_for("incident_desk.show", incident_id=incident.id))
    return render_template("incidents/new.html", form=form), 422 if form.errors else 200


def _show(incident: Incident, *, entry_form=None, update_form=None, status: int = 200):
    with all_tenants():
        from tenantry.platform.tenancy import Tenant

        names = {t.id: t for t in db.session.execute(sa.select(Tenant)).scalars()}
    return render_template(
        "incidents/staff_show.html", incident=incident, deadlines=service.deadlines(incident),
        timeline=service.entries(incident.id), affected=service.affected(incident.id),
        unnotified=service.unnotified_tenant_ids(incident.id), recipients=service.recipients(incident.id),
        notices=service.notices(incident.id), tenants=names, authority=service.authority(incident),
        closed=service.is_closed(incident), entry_form=entry_form or forms.EntryForm(),
        update_form=update_form or forms.UpdateForm(), button=forms.ButtonForm(), duration=service.duration,
        can_act=current_user.role in ACT,
    ), status


@bp.route("/<uuid:incident_id>")
@require_staff_role(*VIEW)
def show(incident_id: uuid.UUID):
    return _show(_incident(incident_id))


@bp.route("/<uuid:incident_id>/notify", methods=["POST"])
@require_staff_role(*ACT)
def notify_tenants(incident_id: uuid.UUID):
    incident = _incident(incident_id)
    if not forms.ButtonForm().validate_on_submit():
        abort(400)
    try:
        sent = service.notify_tenants(incident, staff=current_user)
    except service.IncidentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        late = [n for n in sent if n.late_seconds]
        db.session.commit()
        flash(f"Notice sent to {len(sent)} tenant(s)" + (" \u2014 after the 48-hour deadline." if late else "."),
              "warning" if late else "success")
    return redirect(url_for("incident_desk.show", incident_id=incident.id))


@bp.route("/<uuid:incident_id>/updates", methods=["POST"])
@require_staff_role(*ACT)
def update(incident_id: uuid.UUID):
    incident = _incident(incident_id)
    form = forms.UpdateForm()
    if form.validate_on_submit():
        try:
            service.send_update(incident, staff=current_user, body=form.body.data)
        except service.IncidentError as exc:
            db.session.rollback()
            form.body.errors.append(str(exc))
        else:
            db.session.commit()
            flash("Update sent to the notified tenants.", "success")
            return redirect(url_for("incident_desk.show", incident_id=incident.id))
    return _show(incident, update_form=form, status=422)


@bp.route("/<uuid:incident_id>/entries", methods=["POST"])
@require_staff_role(*ACT)
def entry(incident_id: uuid.UUID):
    incident = _incident(incident_id)
    form = forms.EntryForm()
    if form.validate_on_submit():
        kind = EntryKind(form.kind.data)
        data = None
        if kind == EntryKind.TARGET and form.target_at.data:
            data = {"target_at": form.target_at.data.replace(tzinfo=UTC)}
        if kind == EntryKind.AUTHORITY and form.authority_notified_at.data:
            data = {"notified_at": form.authority_notified_at.data.replace(tzinfo=UTC),
                    "reference": form.authority_reference.data or ""}
        fields = {"target_at": "target_at", "notified_at": "authority_notified_at", "body": "body", "kind": "kind",
                  "corrects": "kind"}
        try:
            if kind == EntryKind.AUTHORITY and data and data["notified_at"] > clock.now() + timedelta(minutes=5):
                raise service.IncidentError("notified_at", "That time is in the future.")
            service.add_entry(incident, kind, staff=current_user, body=form.body.data, data=data)
        except service.IncidentError as exc:
            db.session.rollback()
            getattr(form, fields.get(exc.field, "body")).errors.append(str(exc))
        else:
            db.session.commit()
            flash("Entry added to the timeline.", "success")
            return redirect(url_for("incident_desk.show", incident_id=incident.id))
    return _show(incident, entry_form=form, status=422)


def _register_rows():
    rows = service.register()
    audit.record("incident.register_exported", actor=current_user, details={"incidents": len(rows)})
    db.session.commit()
    return rows


@bp.route("/register.csv")
@require_staff_role(*VIEW)
def register_csv():
    return Response(service.register_csv(_register_rows()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=breach-register.csv"})


@bp.route("/register.json")
@require_staff_role(*VIEW)
def register_json():
    return Response(service.register_json(_register_rows()), mimetype="application/json",
                    headers={"Content-Disposition": "attachment; filename=breach-register.json"})
