"""Staff pages of the subprocessor registry and of the agreement's versions [DPA-4.8, DPA-8.6].

Every staff role may look; only platform admins propose, resolve, withdraw and publish.
"""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import DateTimeLocalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.dpa import agreements
from tenantry.dpa.registry import services
from tenantry.dpa.registry.forms import ProposeForm, ResolveForm
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.identity.models import StaffRole

bp = staff_blueprint("staff_registry", __name__, url_prefix="/admin")
ADMIN = StaffRole.PLATFORM_ADMIN.value


def _utc(value):
    # The form's datetime-local has no zone; the label says UTC.
    return value.replace(tzinfo=UTC) if value is not None else None


def _sub_or_404(subprocessor_id: uuid.UUID):
    sub = services.get(subprocessor_id)
    if sub is None:
        abort(404)
    return sub


@bp.route("/subprocessors")
def subprocessors():
    return render_template("registry/staff_list.html", subs=services.listed())


@bp.route("/subprocessors/new", methods=["GET", "POST"])
@require_staff_role(ADMIN)
def propose():
    form = ProposeForm()
    if not form.is_submitted():
        form.effective_at.data = (clock.now() + timedelta(days=14)).replace(second=0, microsecond=0, tzinfo=None)
    if form.validate_on_submit():
        fields = {name: getattr(form, name).data for name in services.FIELDS}
        try:
            sub = services.propose(current_user, effective_at=_utc(form.effective_at.data),
                                   window_days=form.window_days.data, **fields)
        except services.RegistryError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"{sub.legal_name} is proposed; every tenant's owners are being told.", "success")
            return redirect(url_for("staff_registry.subprocessor", subprocessor_id=sub.id))
    return render_template("registry/staff_propose.html", form=form), 422 if form.errors else 200


def _render_sub(sub, resolve_forms=None, status=200):
    deliveries = services.deliveries(sub)
    objections = services.objections(sub)
    resolve_forms = resolve_forms or {}
    for objection, _tenant in objections:
        resolve_forms.setdefault(objection.id, ResolveForm(prefix=f"r{objection.id.hex[:8]}"))
    page = render_template("registry/staff_detail.html", sub=sub, deliveries=deliveries, objections=objections,
                           resolve_forms=resolve_forms)
    # Delivery times found on the way are kept; after rendering, because a commit expires the
    # rows that were read across tenants.
    db.session.commit()
    return page, status


@bp.route("/subprocessors/<uuid:subprocessor_id>")
def subprocessor(subprocessor_id: uuid.UUID):
    return _render_sub(_sub_or_404(subprocessor_id))


@bp.route("/subprocessors/<uuid:subprocessor_id>/objections/<uuid:objection_id>", methods=["POST"])
@require_staff_role(ADMIN)
def resolve(subprocessor_id: uuid.UUID, objection_id: uuid.UUID):
    sub = _sub_or_404(subprocessor_id)
    objection = services.get_objection(objection_id)
    if objection is None or objection.subprocessor_id != sub.id:
        abort(404)
    form = ResolveForm(prefix=f"r{objection.id.hex[:8]}")
    if form.validate_on_submit():
        try:
            services.resolve(objection, current_user, form.resolution.data, form.note.data or "")
        except services.RegistryError as exc:
            db.session.rollback()
            form.resolution.errors.append(str(exc))
        else:
            db.session.commit()
            flash("The objection is resolved.", "success")
            return redirect(url_for("staff_registry.subprocessor", subprocessor_id=sub.id))
    db.session.rollback()
    return _render_sub(_sub_or_404(subprocessor_id), {objection_id: form}, 422)


@bp.route("/subprocessors/<uuid:subprocessor_id>/withdraw", methods=["POST"])
@require_staff_role(ADMIN)
def withdraw(subprocessor_id: uuid.UUID):
    sub = _sub_or_404(subprocessor_id)
    if not Form().validate_on_submit():
        abort(400)
    try:
        services.withdraw(sub, current_user)
    except services.RegistryError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{sub.legal_name} is withdrawn.", "success")
    return redirect(url_for("staff_registry.subprocessor", subprocessor_id=subprocessor_id))


@bp.route("/subprocessors/<uuid:subprocessor_id>/retire", methods=["POST"])
@require_staff_role(ADMIN)
def retire(subprocessor_id: uuid.UUID):
    sub = _sub_or_404(subprocessor_id)
    if not Form().validate_on_submit():
        abort(400)
    try:
        services.retire(sub, current_user)
    except services.RegistryError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{sub.legal_name} is retired.", "success")
    return redirect(url_for("staff_registry.subprocessor", subprocessor_id=subprocessor_id))


# --- the agreement ---------------------------------------------------------------------------


class PublishForm(Form):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    summary = TextAreaField("Summary of the changes", validators=[DataRequired(), Length(max=4000)])
    body_markdown = TextAreaField("Text (Markdown with role tokens such as [[controller]])",
                                  validators=[DataRequired(), Length(max=200_000)])
    effective_at = DateTimeLocalField("Effective from (UTC)", format="%Y-%m-%dT%H:%M",
                                      validators=[DataRequired(message="Give the effective date and time.")])
    override_reason = StringField("Reason for notice shorter than 30 days", validators=[Optional(), Length(max=500)])


@bp.route("/agreement", methods=["GET", "POST"])
def agreement():
    form = PublishForm()
    if form.is_submitted() and current_user.role != ADMIN:
        abort(403, "Your staff role does not allow this.")
    if not form.is_submitted():
        current = agreements.in_force()
        form.title.data = current.title
        form.body_markdown.data = current.body_markdown
        form.effective_at.data = (clock.now() + timedelta(days=agreements.MIN_NOTICE_DAYS + 1)).replace(
            second=0, microsecond=0, tzinfo=None)
    if form.validate_on_submit():
        try:
            version = agreements.publish(current_user, title=form.title.data, body_markdown=form.body_markdown.data,
                                         summary=form.summary.data, effective_at=_utc(form.effective_at.data),
                                         override_reason=form.override_reason.data or "")
        except agreements.PublishError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Version {version.version} is published; every tenant's owners are being told.", "success")
            return redirect(url_for("staff_registry.agreement"))
    return render_template("registry/staff_agreement.html", form=form, versions=agreements.versions(),
                           in_force=agreements.in_force(), now=clock.now()), 422 if form.errors else 200
