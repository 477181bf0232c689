"""A tenant's pages: audits, inspections, cooperation requests and records of processing."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Response, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.platform.web import require_role, tenant_blueprint

from . import audits, cooperation, inspections, ropa
from .forms import ActivityForm, AnswerForm, AuditorForm, AuditRequestForm, CooperationForm
from .models import (
    COOPERATION_TOPICS,
    LEGAL_BASES,
    OBJECTION_REASONS,
    Audit,
    CooperationRequest,
    ProcessingActivity,
)

bp = tenant_blueprint("duties", __name__)


def _field_error(form, error) -> None:
    target = getattr(form, error.field, None) if getattr(error, "field", None) else None
    if target is not None:
        target.errors = [*target.errors, str(error)]
    else:
        flash(str(error), "error")


# --- audits -------------------------------------------------------------------------------------

def _audit(audit_id: uuid.UUID) -> Audit:
    row = db.session.execute(sa.select(Audit).where(Audit.id == audit_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


@bp.route("/audits")
@require_role("admin")
def audit_list():
    rows = list(db.session.execute(sa.select(Audit).order_by(Audit.created_at.desc())).scalars())
    return render_template("duties/audits.html", audits=rows, earliest=audits.earliest_date())


@bp.route("/audits/new", methods=["GET", "POST"])
@require_role("owner")
def audit_new():
    form = AuditRequestForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                row = audits.request_audit(
                    current_tenant, current_user, scope=form.scope.data, proposed_date=form.proposed_date.data,
                    auditor_name=form.auditor_name.data, auditor_organisation=form.auditor_organisation.data,
                    independence_statement=form.independence_statement.data)
            except audits.AuditError as exc:
                db.session.rollback()
                _field_error(form, exc)
            else:
                db.session.commit()
                flash(f"Audit {row.ref} requested. We will accept the auditor or object within 5 days.", "success")
                return redirect(url_for("duties.audit_show", audit_id=row.id))
        status = 422
    return render_template("duties/audit_new.html", form=form, earliest=audits.earliest_date()), status


@bp.route("/audits/<uuid:audit_id>", methods=["GET", "POST"])
@require_role("admin")
def audit_show(audit_id: uuid.UUID):
    row = _audit(audit_id)
    form = AuditorForm()
    status = 200
    if form.is_submitted():
        if not g_is_owner():
            abort(403, "Only an owner names the auditor.")
        if form.validate():
            try:
                audits.name_another_auditor(row, current_user, auditor_name=form.auditor_name.data,
                                            auditor_organisation=form.auditor_organisation.data,
                                            independence_statement=form.independence_statement.data)
            except audits.AuditError as exc:
                db.session.rollback()
                _field_error(form, exc)
            else:
                db.session.commit()
                flash("Another auditor named. We will accept or object within 5 days.", "success")
                return redirect(url_for("duties.audit_show", audit_id=row.id))
        status = 422
    return render_template("duties/audit.html", audit=row, nominations=audits.nominations(row),
                           documents=audits.documents(row), form=form, reasons=OBJECTION_REASONS,
                           confidential=audits.confidential_line(row)), status


def g_is_owner() -> bool:
    membership = g.get("membership")
    return membership is not None and membership.can("owner")


def document_response(row: Audit, document_id: uuid.UUID, actor) -> Response:
    doc = audits.get_document(row, document_id)
    if doc is None:
        abort(404)
    data = audits.read_document(row, doc, actor)
    db.session.commit()
    response = Response(data, mimetype=doc.content_type.split(";")[0])
    if doc.content_type.startswith("text/"):
        response.headers["Content-Type"] = doc.content_type
    response.headers["Content-Disposition"] = f'attachment; filename="CONFIDENTIAL-{doc.filename}"'
    response.headers["X-Confidential"] = audits.confidential_line(row)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/audits/<uuid:audit_id>/documents/<uuid:audit_document_id>")
@require_role("admin")
def audit_document(audit_id: uuid.UUID, audit_document_id: uuid.UUID):
    return document_response(_audit(audit_id), audit_document_id, current_user)


# --- inspections ------------------------------------------------------------------------------

@bp.route("/inspections")
@require_role("admin")
def inspection_list():
    return render_template("duties/inspections.html", inspections=inspections.for_tenant(current_tenant.id))


@bp.route("/inspections/<uuid:inspection_id>")
@require_role("admin")
def inspection_show(inspection_id: uuid.UUID):
    inspection = inspections.get_for_tenant(current_tenant.id, inspection_id)
    if inspection is None:
        abort(404)
    return render_template("duties/inspection.html", inspection=inspection, events=inspections.timeline(inspection))


# --- cooperation ------------------------------------------------------------------------------

def _request(request_id: uuid.UUID) -> CooperationRequest:
    row = db.session.execute(
        sa.select(CooperationRequest).where(CooperationRequest.id == request_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


@bp.route("/cooperation", methods=["GET", "POST"])
@require_role("admin")
def cooperation_list():
    form = CooperationForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                row = cooperation.open_request(current_tenant, topic=form.topic.data, subject=form.subject.data,
                                               details=form.details.data, user=current_user)
            except cooperation.CooperationError as exc:
                db.session.rollback()
                _field_error(form, exc)
            else:
                db.session.commit()
                flash(f"Request {row.ref} sent. It is due by {row.due_at:%Y-%m-%d}.", "success")
                return redirect(url_for("duties.cooperation_show", cooperation_id=row.id))
        status = 422
    return render_template("duties/cooperation_list.html", requests=cooperation.for_tenant(current_tenant.id),
                           form=form, topics=COOPERATION_TOPICS, now=clock.now()), status


@bp.route("/cooperation/<uuid:cooperation_id>", methods=["GET", "POST"])
@require_role("admin")
def cooperation_show(cooperation_id: uuid.UUID):
    row = _request(cooperation_id)
    form = AnswerForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                cooperation.answer(row, form.answer.data, user=current_user)
            except cooperation.CooperationError as exc:
                db.session.rollback()
                _field_error(form, exc)
            else:
                db.session.commit()
                flash("Answer sent.", "success")
                return redirect(url_for("duties.cooperation_show", cooperation_id=row.id))
        status = 422
    return render_template("duties/cooperation.html", req=row, form=form, topics=COOPERATION_TOPICS,
                           now=clock.now(), staff_view=False), status


# --- records of processing --------------------------------------------------------------------

@bp.route("/records")
@require_role("admin")
def records():
    snapshot = ropa.latest(current_tenant.id)
    return render_template("duties/records.html", content=ropa.build(current_tenant), snapshot=snapshot,
                           activities=ropa.activities(current_tenant.id), bases=LEGAL_BASES)


@bp.route("/records/processor.md")
@require_role("admin")
def records_markdown():
    return _records_download("md")


@bp.route("/records/processor.html")
@require_role("admin")
def records_html():
    return _records_download("html")


def _records_download(fmt: str):
    snapshot = ropa.generate(current_tenant, trigger="download")
    audit.record("ropa.downloaded", actor=current_user, tenant_id=current_tenant.id, target_type="record_snapshot",
                 target_id=snapshot.id, details={"format": fmt})
    db.session.commit()
    stamp = clock.now().strftime("%Y%m%d")
    if fmt == "md":
        body, mimetype = ropa.to_markdown(snapshot.content), "text/markdown"
    else:
        body, mimetype = ropa.to_html(snapshot.content), "text/html"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="record-of-processing-{current_tenant.slug}-{stamp}.{fmt}"')
    return response


def _activity(processing_activity_id: uuid.UUID) -> ProcessingActivity:
    row = db.session.execute(
        sa.select(ProcessingActivity).where(ProcessingActivity.id == processing_activity_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


_ACTIVITY_FIELDS = ("name", "purpose", "legal_basis", "data_categories", "subject_categories", "recipients",
                    "retention")


@bp.route("/records/activities/new", methods=["GET", "POST"])
@require_role("admin")
def activity_new():
    form = ActivityForm()
    if form.is_submitted():
        if form.validate():
            row = ProcessingActivity(tenant_id=current_tenant.id,
                                     **{f: getattr(form, f).data.strip() for f in _ACTIVITY_FIELDS})
            db.session.add(row)
            db.session.flush()
            audit.record("ropa.activity_added", actor=current_user, tenant_id=current_tenant.id,
                         target_type="processing_activity", target_id=row.id)
            db.session.commit()
            flash("Processing activity added.", "success")
            return redirect(url_for("duties.records"))
        return render_template("duties/activity_form.html", form=form, activity=None), 422
    return render_template("duties/activity_form.html", form=form, activity=None)


@bp.route("/records/activities/<uuid:processing_activity_id>", methods=["GET", "POST"])
@require_role("admin")
def activity_edit(processing_activity_id: uuid.UUID):
    row = _activity(processing_activity_id)
    form = ActivityForm(obj=row)
    if form.is_submitted():
        if form.validate():
            for f in _ACTIVITY_FIELDS:
                setattr(row, f, getattr(form, f).data.strip())
            row.updated_at = clock.now()
            audit.record("ropa.activity_changed", actor=current_user, tenant_id=current_tenant.id,
                         target_type="processing_activity", target_id=row.id)
            db.session.commit()
            flash("Processing activity saved.", "success")
            return redirect(url_for("duties.records"))
        return render_template("duties/activity_form.html", form=form, activity=row), 422
    return render_template("duties/activity_form.html", form=form, activity=row)


@bp.route("/records/activities/<uuid:processing_activity_id>/delete", methods=["POST"])
@require_role("admin")
def activity_delete(processing_activity_id: uuid.UUID):
    # CSRFProtect has already checked the token of this POST.
    row = _activity(processing_activity_id)
    audit.record("ropa.activity_deleted", actor=current_user, tenant_id=current_tenant.id,
                 target_type="processing_activity", target_id=row.id)
    db.session.delete(row)
    db.session.commit()
    flash("Processing activity deleted.", "success")
    return redirect(url_for("duties.records"))

