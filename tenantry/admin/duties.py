"""Staff pages for the processor's duties: audits (platform admins), inspections and cooperation
requests (the DPO). Each notice sent for a duty is listed with its delivery state and attempts."""

from __future__ import annotations

import functools
import uuid

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.dpa.duties import audits, cooperation, inspections, notices
from tenantry.dpa.duties.forms import (
    AnswerForm,
    AuditDecisionForm,
    DocumentForm,
    InspectionForm,
    InspectionUpdateForm,
    StaffCooperationForm,
)
from tenantry.dpa.duties.models import (
    COOPERATION_TOPICS,
    OBJECTION_REASONS,
    Audit,
    CooperationRequest,
    Inspection,
)
from tenantry.dpa.duties.views import document_response
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffRole
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants

bp = staff_blueprint("admin_duties", __name__, url_prefix="/admin")

AUDIT_ROLES = (StaffRole.PLATFORM_ADMIN, StaffRole.DPO)
DPO_ROLES = (StaffRole.DPO,)
# Platform admins see inspections and cooperation requests; the DPO records and answers them.
OVERSIGHT_ROLES = (StaffRole.PLATFORM_ADMIN, StaffRole.DPO)


def _dpo_acts() -> bool:
    """POSTs of the inspection and cooperation pages are the DPO's; others may only read."""
    if request.method == "POST" and current_user.role != StaffRole.DPO:
        abort(403, "Only the DPO records inspections and answers cooperation requests.")
    return current_user.role == StaffRole.DPO


def across_tenants(view):
    """The console works across tenants, and says so."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with all_tenants():
            return view(*args, **kwargs)

    return wrapper


def _error(form, exc) -> None:
    target = getattr(form, exc.field, None) if getattr(exc, "field", None) else None
    if target is not None:
        target.errors = [*target.errors, str(exc)]
    else:
        flash(str(exc), "error")


def _tenants() -> dict[uuid.UUID, Tenant]:
    return {t.id: t for t in db.session.execute(sa.select(Tenant).order_by(Tenant.slug)).scalars()}


# --- audits ---------------------------------------------------------------------------------------

@bp.route("/audits")
@require_staff_role(*AUDIT_ROLES)
@across_tenants
def audits_index():
    rows = list(db.session.execute(sa.select(Audit).order_by(Audit.created_at.desc()).limit(500)).scalars())
    return render_template("duties/admin_audits.html", audits=rows, tenants=_tenants())


def _audit(audit_id: uuid.UUID) -> Audit:
    row = db.session.execute(sa.select(Audit).where(Audit.id == audit_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


def _audit_page(row: Audit, decision: AuditDecisionForm, upload: DocumentForm, status: int = 200):
    nomination = audits.current_nomination(row)
    return render_template(
        "duties/admin_audit.html", audit=row, tenant=db.session.get(Tenant, row.tenant_id),
        nominations=audits.nominations(row), pending=nomination if nomination and nomination.decision == "pending" else None,
        documents=audits.documents(row), decision=decision, upload=upload, reasons=OBJECTION_REASONS,
        confidential=audits.confidential_line(row), notes=notices.for_subject("audit", row.id),
        can_decide=current_user.role == StaffRole.PLATFORM_ADMIN,
    ), status


@bp.route("/audits/<uuid:audit_id>", methods=["GET", "POST"])
@require_staff_role(*AUDIT_ROLES)
@across_tenants
def audit_show(audit_id: uuid.UUID):
    row = _audit(audit_id)
    decision = AuditDecisionForm(prefix="decision")
    upload = DocumentForm(prefix="upload")
    if request.method == "POST" and "decision-decision" in request.form:
        if current_user.role != StaffRole.PLATFORM_ADMIN:
            abort(403, "Platform admins decide on auditors.")
        if decision.validate():
            try:
                if decision.decision.data == "accept":
                    audits.accept(row, current_user)
                else:
                    audits.object_to_auditor(row, current_user, reason=decision.reason.data,
                                             note=decision.note.data or "")
            except audits.AuditError as exc:
                db.session.rollback()
                _error(decision, exc)
            else:
                db.session.commit()
                flash("Decision recorded and the tenant told.", "success")
                return redirect(url_for("admin_duties.audit_show", audit_id=row.id))
        return _audit_page(row, decision, DocumentForm(prefix="upload", formdata=None), 422)
    if request.method == "POST":
        if upload.validate():
            file = upload.file.data
            data = file.read(audits.MAX_DOCUMENT_BYTES + 1) if file else b""
            try:
                audits.share_document(row, current_user, getattr(file, "filename", "") or "", data)
            except audits.AuditError as exc:
                db.session.rollback()
                _error(upload, exc)
            else:
                db.session.commit()
                flash("Document shared, marked confidential.", "success")
                return redirect(url_for("admin_duties.audit_show", audit_id=row.id))
        return _audit_page(row, AuditDecisionForm(prefix="decision", formdata=None), upload, 422)
    return _audit_page(row, decision, upload)


@bp.route("/audits/<uuid:audit_id>/documents/<uuid:audit_document_id>")
@require_staff_role(*AUDIT_ROLES)
@across_tenants
def audit_document(audit_id: uuid.UUID, audit_document_id: uuid.UUID):
    return document_response(_audit(audit_id), audit_document_id, current_user)


# --- inspections ----------------------------------------------------------------------------------

def _inspection_form() -> InspectionForm:
    form = InspectionForm()
    form.tenants.choices = [(str(t.id), f"{t.name} ({t.slug})") for t in _tenants().values()
                            if t.status == TenantStatus.ACTIVE]
    return form


@bp.route("/inspections", methods=["GET", "POST"])
@require_staff_role(*OVERSIGHT_ROLES)
@across_tenants
def inspections_index():
    can_act = _dpo_acts()
    form = _inspection_form()
    status = 200
    if form.is_submitted():
        if form.validate():
            chosen = None if form.affects.data == "all" else [uuid.UUID(t) for t in form.tenants.data]
            try:
                inspection = inspections.record(current_user, authority=form.authority.data, scope=form.scope.data,
                                                tenant_ids=chosen)
            except inspections.InspectionError as exc:
                db.session.rollback()
                _error(form, exc)
            else:
                db.session.commit()
                flash(f"Inspection {inspection.ref} recorded; the affected tenants have been told.", "success")
                return redirect(url_for("admin_duties.inspection_show", inspection_id=inspection.id))
        status = 422
    rows = list(db.session.execute(sa.select(Inspection).order_by(Inspection.opened_at.desc())).scalars())
    return render_template("duties/admin_inspections.html", can_act=can_act, inspections=rows, form=form), status


@bp.route("/inspections/<uuid:inspection_id>", methods=["GET", "POST"])
@require_staff_role(*OVERSIGHT_ROLES)
@across_tenants
def inspection_show(inspection_id: uuid.UUID):
    can_act = _dpo_acts()
    inspection = db.session.get(Inspection, inspection_id)
    if inspection is None:
        abort(404)
    form = InspectionUpdateForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                if form.kind.data == "result":
                    inspections.close_with_result(inspection, current_user, form.body.data)
                else:
                    inspections.add_update(inspection, current_user, form.body.data)
            except inspections.InspectionError as exc:
                db.session.rollback()
                _error(form, exc)
            else:
                db.session.commit()
                flash("Shared with the affected tenants.", "success")
                return redirect(url_for("admin_duties.inspection_show", inspection_id=inspection.id))
        status = 422
    tenants = _tenants()
    affected = [tenants[t] for t in inspections.affected_tenant_ids(inspection) if t in tenants]
    return render_template("duties/admin_inspection.html", can_act=can_act, inspection=inspection, events=inspections.timeline(inspection),
                           affected=affected, form=form, notes=notices.for_subject("inspection", inspection.id),
                           tenants=tenants), status


# --- cooperation ----------------------------------------------------------------------------------

@bp.route("/cooperation", methods=["GET", "POST"])
@require_staff_role(*OVERSIGHT_ROLES)
@across_tenants
def cooperation_index():
    can_act = _dpo_acts()
    tenants = _tenants()
    form = StaffCooperationForm()
    form.tenant.choices = [("", "Choose…")] + [(str(t.id), f"{t.name} ({t.slug})") for t in tenants.values()
                                               if t.status == TenantStatus.ACTIVE]
    status = 200
    if form.is_submitted():
        if form.validate():
            tenant = tenants[uuid.UUID(form.tenant.data)]
            try:
                row = cooperation.open_request(tenant, topic=form.topic.data, subject=form.subject.data,
                                               details=form.details.data, staff=current_user)
            except cooperation.CooperationError as exc:
                db.session.rollback()
                _error(form, exc)
            else:
                db.session.commit()
                flash(f"Request {row.ref} sent to {tenant.name}.", "success")
                return redirect(url_for("admin_duties.cooperation_show", cooperation_id=row.id))
        status = 422
    rows = list(db.session.execute(
        sa.select(CooperationRequest).order_by(CooperationRequest.answered_at.is_not(None), CooperationRequest.due_at)
        .limit(500)).scalars())
    return render_template("duties/admin_cooperation_list.html", can_act=can_act, requests=rows, tenants=tenants, form=form,
                           topics=COOPERATION_TOPICS, now=clock.now()), status


@bp.route("/cooperation/<uuid:cooperation_id>", methods=["GET", "POST"])
@require_staff_role(*OVERSIGHT_ROLES)
@across_tenants
def cooperation_show(cooperation_id: uuid.UUID):
    can_act = _dpo_acts()
    row = db.session.execute(
        sa.select(CooperationRequest).where(CooperationRequest.id == cooperation_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    form = AnswerForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                cooperation.answer(row, form.answer.data, staff=current_user)
            except cooperation.CooperationError as exc:
                db.session.rollback()
                _error(form, exc)
            else:
                db.session.commit()
                flash("Answer sent to the tenant.", "success")
                return redirect(url_for("admin_duties.cooperation_show", cooperation_id=row.id))
        status = 422
    return render_template("duties/admin_cooperation.html", can_act=can_act, req=row, tenant=db.session.get(Tenant, row.tenant_id),
                           form=form, topics=COOPERATION_TOPICS, now=clock.now(),
                           notes=notices.for_subject("cooperation", row.id)), status
