"""/t/<slug>/subject-requests: data subject requests, for the workspace's owners and admins.

Thin: parse, call the service, render. Another tenant's request is not found (the ORM scopes
every query to the current tenant): 404 before any form is read.
"""

from __future__ import annotations

import json
import uuid

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.platform import clock
from tenantry.platform.csv_cells import csv_download
from tenantry.platform.db import db
from tenantry.platform.identity.models import Role
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants.crm import contacts, custom_fields, pickers
from tenantry.tenants.crm import forms as crm_forms

from . import deadlines, finder, forms, service
from .models import ERASURE, NOTIFY_KINDS, OBJECTION, RECTIFICATION, RESTRICTION

bp = tenant_blueprint("subject_requests", __name__)


def _load(request_id: uuid.UUID):
    return service.get(request_id) or abort(404)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


@bp.get("/subject-requests")
@require_role(Role.ADMIN)
def index():
    opened = service.open_requests()
    return render_template("subject_requests/list.html", opened=opened, closed=service.closed_requests(),
                           now=clock.now())


@bp.route("/subject-requests/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def new():
    form = forms.OpenForm()
    if form.validate_on_submit():
        try:
            req = service.open_request(form.kind.data, form.terms(), form.details.data or "", actor=current_user)
        except service.Refused as exc:
            db.session.rollback()
            getattr(form, exc.field or "name").errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Request opened; it is due by {req.due_at:%Y-%m-%d %H:%M} UTC.", "success")
            return redirect(url_for("subject_requests.show", request_id=req.id))
    return render_template("subject_requests/new.html", form=form), 422 if form.errors else 200


def _detail(req, status: int = 200, **given):
    found = service.findings(req)
    contact = service.contact_of(req)
    candidates = finder.candidate_contacts(service.terms_of(req)) if contact is None else []
    recipients = service.recipients(req) if req.kind in NOTIFY_KINDS else []
    events = service.history(req)
    names = service.user_names([e.actor_id for e in events] + [r.told_by_id for r in recipients]
                               + [req.opened_by_id, req.closed_by_id, req.extended_by_id])
    close_form = given.get("close_form") or forms.CloseForm(formdata=None, response=service.default_response(req))
    service.record_viewed(req, found, actor=current_user)
    return render_template(
        "subject_requests/detail.html", req=req, terms=service.terms_of(req), details=req.reveal("details"),
        found=found, contact=contact, candidates=candidates, recipients=recipients,
        recipient_names=service.recipient_names(recipients), events=events, names=names, now=clock.now(),
        can_extend=service.can_extend(req), first_due=deadlines.first_due(req.received_at),
        display_name=contacts.display_name, close_form=close_form,
        extend_form=given.get("extend_form") or forms.ReasonForm(prefix="extend"),
        lift_form=given.get("lift_form") or forms.ReasonForm(prefix="lift"),
        erase_form=given.get("erase_form") or forms.EraseForm(),
        action_form=forms.ActionForm(), backup_days=service.backup_retention_days(),
        kinds={"erasure": ERASURE, "restriction": RESTRICTION, "objection": OBJECTION,
               "rectification": RECTIFICATION},
    ), status


@bp.get("/subject-requests/<uuid:request_id>")
@require_role(Role.ADMIN)
def show(request_id):
    return _detail(_load(request_id))


def _done(req, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("subject_requests.show", request_id=req.id))


def _refused(req, exc: service.Refused, form=None, key: str | None = None):
    db.session.rollback()
    req = _load(req.id)
    if form is not None and exc.field and hasattr(form, exc.field):
        getattr(form, exc.field).errors.append(str(exc))
        return _detail(req, 422, **{key: form})
    flash(str(exc), "error")
    return _detail(req, 409)


def _submit(request_id, form, action, done, *, key: str | None = None, invalid: str = ""):
    """A form posted on the request's page: shown again with its errors (under `key` in the
    page) or, for a pick from a list, flashed `invalid`; then `action(req, form)`, whose
    refusal is shown next to its field or flashed; then `done` (text, or made from req)."""
    req = _load(request_id)
    if not form.validate_on_submit():
        if key is None:
            flash(invalid, "error")
            return _detail(req, 422)
        return _detail(req, 422, **{key: form})
    try:
        action(req, form)
    except service.Refused as exc:
        return _refused(req, exc, form if key else None, key)
    return _done(req, done(req) if callable(done) else done)


@bp.post("/subject-requests/<uuid:request_id>/link")
@require_role(Role.ADMIN)
def link(request_id):
    return _submit(request_id, forms.LinkForm(),
                   lambda req, form: service.link_contact(req, _uuid(form.contact_id.data), actor=current_user),
                   "Contact identified.", invalid="Choose one of the contacts the search found.")


@bp.post("/subject-requests/<uuid:request_id>/extend")
@require_role(Role.ADMIN)
def extend(request_id):
    return _submit(request_id, forms.ReasonForm(prefix="extend"),
                   lambda req, form: service.extend(req, form.reason.data, actor=current_user),
                   lambda req: f"Deadline extended to {req.due_at:%Y-%m-%d %H:%M} UTC. Tell the person why.",
                   key="extend_form")


@bp.post("/subject-requests/<uuid:request_id>/close")
@require_role(Role.ADMIN)
def close(request_id):
    return _submit(request_id, forms.CloseForm(),
                   lambda req, form: service.close(req, form.response.data, actor=current_user),
                   "Request closed; the response is recorded.", key="close_form")


@bp.post("/subject-requests/<uuid:request_id>/erase")
@require_role(Role.ADMIN)
def erase(request_id):
    return _submit(request_id, forms.EraseForm(), lambda req, _form: service.erase(req, actor=current_user),
                   "Erased. Tell the recipients listed below, then close the request with the response.",
                   key="erase_form")


def _simple(request_id, action, message: str):
    req = _load(request_id)
    if not forms.ActionForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    try:
        action(req, actor=current_user)
    except service.Refused as exc:
        return _refused(req, exc)
    return _done(req, message)


@bp.post("/subject-requests/<uuid:request_id>/restrict")
@require_role(Role.ADMIN)
def restrict(request_id):
    return _simple(request_id, service.restrict,
                   "The contact is restricted: kept, hidden from lists, search, edits and exports.")


@bp.post("/subject-requests/<uuid:request_id>/object")
@require_role(Role.ADMIN)
def record_objection(request_id):
    return _simple(request_id, service.record_objection,
                   "Objection recorded: the contact is left out of bulk processing.")


def _lift(request_id, action, message: str):
    return _submit(request_id, forms.ReasonForm(prefix="lift"),
                   lambda req, form: action(req, form.reason.data, actor=current_user), message, key="lift_form")


@bp.post("/subject-requests/<uuid:request_id>/lift-restriction")
@require_role(Role.ADMIN)
def lift_restriction(request_id):
    return _lift(request_id, service.lift_restriction, "Restriction lifted.")


@bp.post("/subject-requests/<uuid:request_id>/lift-objection")
@require_role(Role.ADMIN)
def lift_objection(request_id):
    return _lift(request_id, service.lift_objection, "Objection lifted.")


@bp.post("/subject-requests/<uuid:request_id>/recipients/refresh")
@require_role(Role.ADMIN)
def refresh_recipients(request_id):
    req = _load(request_id)
    if not forms.ActionForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    added = service.refresh_recipients(req)
    return _done(req, f"{added} more recipient(s) listed." if added else "No new recipients.")


@bp.post("/subject-requests/<uuid:request_id>/recipients/told")
@require_role(Role.ADMIN)
def mark_told(request_id):
    return _submit(request_id, forms.ToldForm(),
                   lambda req, form: service.mark_told(req, _uuid(form.recipient_id.data), actor=current_user),
                   "Recipient marked as told.", invalid="Choose one of the recipients listed.")


@bp.get("/subject-requests/<uuid:request_id>/download")
@require_role(Role.ADMIN)
def download(request_id):
    req = _load(request_id)
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        abort(404)
    found = service.findings(req)
    doc = service.data_about(req, found)
    service.record_download(req, found, fmt, actor=current_user)
    db.session.commit()  # stage defaults seeded by data_about, if any
    name = f"personal-data-{str(req.id)[:8]}"
    if fmt == "csv":
        return csv_download(f"{name}.csv", service.CSV_HEADER, list(service.csv_rows(doc)))
    body = json.dumps(doc, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


# --- rectification through the CRM's own contact form [DSR-rectify] -----------------------------


def _snapshot(contact) -> dict:
    plain = contact.plain()
    plain["company_id"] = str(contact.company_id) if contact.company_id else ""
    for fid, value in custom_fields.values_of(contact.id).items():
        plain[f"custom:{fid}"] = value
    return plain


@bp.route("/subject-requests/<uuid:request_id>/rectify", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def rectify(request_id):
    req = _load(request_id)
    try:
        contact = service.check_rectifiable(req)
    except service.Refused as exc:
        flash(str(exc), "error")
        return redirect(url_for("subject_requests.show", request_id=req.id))
    shown = custom_fields.usable()
    form = custom_fields.contact_form(crm_forms.ContactForm, shown)
    if request.method == "GET":
        form.fill_from(contact, contact.plain())
        custom_fields.fill_form(form, contact)
        service.record_viewed(req, finder.Findings(contacts=[contact]), actor=current_user)
    pickers.offer(form.company, "companies")
    if form.validate_on_submit():
        before = _snapshot(contact)
        try:
            contacts.update(contact, form.data_for_service(), actor=current_user)
            custom_fields.save(contact, custom_fields.form_values(form), only=shown, actor=current_user)
        except contacts.UnknownCompany as exc:
            db.session.rollback()
            form.company.errors = [*form.company.errors, str(exc)]
        else:
            changed = service.record_rectification(req, contact, before, _snapshot(contact), actor=current_user)
            db.session.commit()
            flash(f"Contact corrected ({len(changed)} field(s)). Tell the recipients listed below.", "success")
            return redirect(url_for("subject_requests.show", request_id=req.id))
    return render_template("subject_requests/rectify.html", form=form, req=req, contact=contact,
                           display_name=contacts.display_name), 422 if form.errors else 200
